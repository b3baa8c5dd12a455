"""Derived plans: only the batch size (and the plans name) change; atomic, never overwriting."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import load_fixture
from nnunet_calibrate.derive import derive_plans, derived_plans_name, write_derived_plans
from nnunet_calibrate.errors import BadInputError


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    return [] if a == b else [path]


def test_only_the_batch_size_and_the_plans_name_change():
    plans, _ = load_fixture("Dataset003_Liver")
    derived = derive_plans(plans, "3d_fullres", 8, derived_plans_name("nnUNetPlans", 8))
    assert _diff(plans, derived) == ["configurations.3d_fullres.batch_size", "plans_name"]
    assert derived["plans_name"] == "nnUNetPlans_bs8"
    assert derived["configurations"]["3d_fullres"]["data_identifier"] == "nnUNetPlans_3d_fullres", "reuses the preprocessed data"
    assert plans["configurations"]["3d_fullres"]["batch_size"] == 2, "the input is not mutated"


def test_an_inheriting_configuration_gets_its_own_batch_size_and_the_parent_keeps_its_own():
    plans, _ = load_fixture("Dataset003_Liver")
    derived = derive_plans(plans, "3d_cascade_fullres", 6, "nnUNetPlans_bs6")
    assert derived["configurations"]["3d_cascade_fullres"] == {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres", "batch_size": 6}
    assert derived["configurations"]["3d_fullres"]["batch_size"] == 2


def test_writes_beside_the_original_without_leftovers(tmp_path: Path):
    plans, _ = load_fixture("Dataset003_Liver")
    target = tmp_path / "nnUNetPlans_bs8.json"
    derived = derive_plans(plans, "3d_fullres", 8, "nnUNetPlans_bs8")
    assert write_derived_plans(target, derived) is True
    assert json.loads(target.read_text()) == derived
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nnUNetPlans_bs8.json"]


def test_an_identical_file_is_left_alone(tmp_path: Path):
    plans, _ = load_fixture("Dataset003_Liver")
    target = tmp_path / "nnUNetPlans_bs8.json"
    derived = derive_plans(plans, "3d_fullres", 8, "nnUNetPlans_bs8")
    target.write_text(json.dumps(derived))  # same content, other formatting: a repeated calibration
    os.utime(target, (1_000_000, 1_000_000))
    assert write_derived_plans(target, derived) is False
    assert target.stat().st_mtime == 1_000_000


@pytest.mark.parametrize("existing", ['{"plans_name": "someone else\'s"}', "not json at all"])
def test_a_different_file_of_the_same_name_is_never_overwritten(tmp_path: Path, existing: str):
    plans, _ = load_fixture("Dataset003_Liver")
    target = tmp_path / "nnUNetPlans_bs8.json"
    target.write_text(existing)
    with pytest.raises(BadInputError) as info:
        write_derived_plans(target, derive_plans(plans, "3d_fullres", 8, "nnUNetPlans_bs8"))
    assert info.value.where == str(target)
    assert target.read_text() == existing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nnUNetPlans_bs8.json"]
