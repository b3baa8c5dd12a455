"""Reading plans and dataset.json: inheritance, labels, and errors that name the path or field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, load_fixture
from nnunet_calibrate.errors import BadInputError
from nnunet_calibrate.plans import PLAIN_UNET, RESENC_UNET, load_setup, setup_from_plans


def test_the_3d_fullres_fixture_reads_like_nnunet_reads_it():
    setup = load_setup(FIXTURES, "Dataset003_Liver", "nnUNetPlans", "3d_fullres")
    assert setup.batch_size == 2
    assert setup.patch_size == (128, 128, 128)
    assert setup.network.kind == PLAIN_UNET and setup.network.n_stages == 6
    assert setup.network.features == (32, 64, 128, 256, 320, 320)
    assert setup.input_channels == 1 and setup.num_outputs == 3
    assert setup.deep_supervision_scales[:2] == [(1.0, 1.0, 1.0), (0.5, 0.5, 0.5)]
    assert setup.output_shapes() == [(128,) * 3, (64,) * 3, (32,) * 3, (16,) * 3, (8,) * 3]


def test_a_dataset_id_finds_its_folder():
    assert load_setup(FIXTURES, "3", "nnUNetPlans", "3d_fullres").dataset == "Dataset003_Liver"
    assert load_setup(FIXTURES, "501", "nnUNetPlans", "3d_fullres").num_outputs == 118


def test_an_inheriting_configuration_takes_its_parents_batch_patch_and_architecture():
    setup = load_setup(FIXTURES, "Dataset003_Liver", "nnUNetPlans", "3d_cascade_fullres")
    assert setup.batch_size == 2 and setup.patch_size == (128, 128, 128)
    assert setup.network.n_stages == 6
    # the cascade adds the previous stage's one-hot foreground labels (liver, tumor) as input
    assert setup.input_channels == 3


def test_a_child_value_wins_over_the_inherited_one():
    plans, dataset = load_fixture("Dataset003_Liver")
    plans["configurations"]["3d_fullres_bs4"] = {"inherits_from": "3d_fullres", "batch_size": 4}
    setup = setup_from_plans(plans, dataset, "3d_fullres_bs4", plans_path=Path("p.json"), plans_name="p", dataset="d")
    assert setup.batch_size == 4 and setup.patch_size == (128, 128, 128)


def test_a_residual_encoder_plans_reads_its_blocks_per_stage():
    setup = load_setup(FIXTURES, "Dataset003_Liver", "nnUNetResEncUNetMPlans", "3d_fullres")
    assert setup.network.kind == RESENC_UNET
    assert setup.network.n_conv_encoder == (1, 3, 4, 6, 6, 6)
    assert setup.network.n_conv_decoder == (1, 1, 1, 1, 1)


@pytest.mark.parametrize(
    "name, labels, heads, regions, ignore",
    [
        ("plain labels: one head per label with background", {"background": 0, "a": 1, "b": 2}, 3, False, None),
        ("the ignore label gets no head", {"background": 0, "a": 1, "ignore": 2}, 2, False, 2),
        ("regions: one sigmoid head per foreground region", {"background": 0, "whole": [1, 2, 3], "core": [2, 3], "enh": 3}, 3, True, None),
    ],
)
def test_segmentation_heads_follow_the_label_manager(name, labels, heads, regions, ignore):
    plans, dataset = load_fixture("Dataset003_Liver")
    dataset["labels"] = labels
    setup = setup_from_plans(plans, dataset, "3d_fullres", plans_path=Path("p.json"), plans_name="p", dataset="d")
    assert (setup.num_outputs, setup.has_regions, setup.ignore_label) == (heads, regions, ignore), name


def _broken(mutate) -> BadInputError:
    plans, dataset = load_fixture("Dataset003_Liver")
    mutate(plans, dataset)
    with pytest.raises(BadInputError) as info:
        setup_from_plans(plans, dataset, "3d_fullres", plans_path=Path("/pp/Dataset003_Liver/nnUNetPlans.json"), plans_name="nnUNetPlans", dataset="d")
    return info.value


def _arch(plans):
    return plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]


@pytest.mark.parametrize(
    "name, mutate, where",
    [
        ("missing batch size", lambda p, d: p["configurations"]["3d_fullres"].pop("batch_size"), "configurations.3d_fullres.batch_size"),
        ("zero batch size", lambda p, d: p["configurations"]["3d_fullres"].update(batch_size=0), "configurations.3d_fullres.batch_size"),
        ("missing architecture", lambda p, d: p["configurations"]["3d_fullres"].pop("architecture"), "configurations.3d_fullres.architecture"),
        ("features of the wrong length", lambda p, d: _arch(p).update(features_per_stage=[32, 64]), "arch_kwargs.features_per_stage"),
        ("a 2d kernel in a 3d plan", lambda p, d: _arch(p)["kernel_sizes"].__setitem__(0, [3, 3]), "arch_kwargs.kernel_sizes[0]"),
        ("decoder convs of the wrong length", lambda p, d: _arch(p).update(n_conv_per_stage_decoder=[2] * 6), "n_conv_per_stage_decoder"),
        ("no labels in dataset.json", lambda p, d: d.pop("labels"), "dataset.json: labels"),
        ("no channels in dataset.json", lambda p, d: d.pop("channel_names"), "dataset.json: channel_names"),
        (
            "circular inheritance",
            lambda p, d: p["configurations"].update({"3d_fullres": {"inherits_from": "x"}, "x": {"inherits_from": "3d_fullres"}}),
            "configurations.3d_fullres",
        ),
        ("inheriting from a missing configuration", lambda p, d: p["configurations"]["3d_fullres"].update(inherits_from="nope"), "configurations.3d_fullres.inherits_from"),
    ],
)
def test_bad_plans_name_the_field(name, mutate, where):
    error = _broken(mutate)
    assert where in error.where, f"{name}: {error.where}"


def test_an_unknown_configuration_names_the_field_and_the_ones_that_exist():
    with pytest.raises(BadInputError) as info:
        load_setup(FIXTURES, "Dataset003_Liver", "nnUNetPlans", "3d_fullres_typo")
    assert "configurations.3d_fullres_typo" in info.value.where
    assert "3d_lowres" in info.value.message


@pytest.mark.parametrize(
    "name, dataset, plans, where_suffix",
    [
        ("missing plans file", "Dataset003_Liver", "nnUNetPlansX", "Dataset003_Liver/nnUNetPlansX.json"),
        ("missing dataset folder", "Dataset999_Nope", "nnUNetPlans", "Dataset999_Nope"),
        ("unknown dataset id", "998", "nnUNetPlans", "preprocessed"),
    ],
)
def test_missing_files_name_the_path(name, dataset, plans, where_suffix):
    with pytest.raises(BadInputError) as info:
        load_setup(FIXTURES, dataset, plans, "3d_fullres")
    assert info.value.where.endswith(where_suffix), name


def test_unreadable_json_names_the_path(tmp_path: Path):
    folder = tmp_path / "Dataset001_X"
    folder.mkdir()
    (folder / "nnUNetPlans.json").write_text("{not json")
    (folder / "dataset.json").write_text(json.dumps({"labels": {"background": 0}, "channel_names": {"0": "CT"}}))
    with pytest.raises(BadInputError) as info:
        load_setup(tmp_path, "Dataset001_X", "nnUNetPlans", "3d_fullres")
    assert info.value.where == str(folder / "nnUNetPlans.json")
