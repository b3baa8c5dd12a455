"""Reads an nnU-Net v2 plans file and dataset.json into the facts the calibrator needs.

Pure apart from `load_setup`, which reads the two files. Configuration inheritance is
resolved like nnU-Net's PlansManager: a shallow `dict.update` of the child over its parent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BadInputError

PLAIN_UNET = "PlainConvUNet"
RESENC_UNET = "ResidualEncoderUNet"


@dataclass(frozen=True)
class NetworkSpec:
    """The architecture described by `configurations.<C>.architecture` of the plans."""

    class_name: str
    kind: str  # PLAIN_UNET or RESENC_UNET (the fallback builder knows these two)
    n_stages: int
    features: tuple[int, ...]
    kernel_sizes: tuple[tuple[int, ...], ...]
    strides: tuple[tuple[int, ...], ...]
    n_conv_encoder: tuple[int, ...]  # n_conv_per_stage, or n_blocks_per_stage for ResEnc
    n_conv_decoder: tuple[int, ...]
    conv_bias: bool
    norm: str  # "instance" or "batch"
    nonlin: str  # "leakyrelu" or "relu"
    arch_kwargs: dict[str, Any]
    kw_requires_import: tuple[str, ...]


@dataclass(frozen=True)
class TrainingSetup:
    """Everything about one (dataset, plans, configuration) that shapes a training step."""

    dataset: str
    plans_name: str
    configuration: str
    plans_path: Path
    plans: dict[str, Any]
    dataset_json: dict[str, Any]
    batch_size: int
    patch_size: tuple[int, ...]
    network: NetworkSpec
    input_channels: int
    num_outputs: int  # segmentation heads: labels (without "ignore") or regions
    has_regions: bool
    ignore_label: int | None
    batch_dice: bool

    @property
    def deep_supervision_scales(self) -> list[tuple[float, ...]]:
        """Scale of each deep-supervision output relative to the patch, highest resolution first."""
        scales: list[tuple[float, ...]] = []
        cumulative = [1] * len(self.patch_size)
        for stride in self.network.strides[:-1]:
            cumulative = [c * s for c, s in zip(cumulative, stride)]
            scales.append(tuple(1.0 / c for c in cumulative))
        return scales

    def largest_tensor_elements(self, batch_size: int) -> int:
        """Elements of the largest tensor a training step holds: the full-resolution logits
        (and the softmax and one-hot of the loss, the same size) or the first stage's features."""
        voxels = 1
        for p in self.patch_size:
            voxels *= p
        channels = max(self.num_outputs, self.input_channels, *self.network.features[:1])
        return batch_size * channels * voxels

    def output_shapes(self) -> list[tuple[int, ...]]:
        """Spatial shape of each deep-supervision output (what the targets are downsampled to)."""
        return [tuple(int(round(p * s)) for p, s in zip(self.patch_size, scale)) for scale in self.deep_supervision_scales]


def find_dataset_folder(preprocessed: Path, dataset: str) -> Path:
    """nnU-Net accepts a dataset name (Dataset042_Liver) or its id (42)."""
    if not preprocessed.is_dir():
        raise BadInputError("nnUNet_preprocessed folder does not exist", where=str(preprocessed))
    if re.fullmatch(r"\d+", dataset):
        matches = sorted(preprocessed.glob(f"Dataset{int(dataset):03d}_*"))
        if len(matches) != 1:
            raise BadInputError(f"expected one folder Dataset{int(dataset):03d}_*, found {len(matches)}", where=str(preprocessed))
        return matches[0]
    folder = preprocessed / dataset
    if not folder.is_dir():
        raise BadInputError("dataset folder does not exist", where=str(folder))
    return folder


def read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open("r", encoding="utf-8") as f:
            value = json.load(f)
    except FileNotFoundError as e:
        raise BadInputError("file does not exist", where=str(path), cause=e) from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInputError(f"cannot read JSON ({e})", where=str(path), cause=e) from e
    if not isinstance(value, dict):
        raise BadInputError("expected a JSON object", where=str(path))
    return value


def load_setup(preprocessed: Path, dataset: str, plans_name: str, configuration: str) -> TrainingSetup:
    folder = find_dataset_folder(preprocessed, dataset)
    plans_path = folder / f"{plans_name}.json"
    plans = read_json(plans_path)
    dataset_json = read_json(folder / "dataset.json")
    return setup_from_plans(plans, dataset_json, configuration, plans_path=plans_path, plans_name=plans_name, dataset=folder.name)


def resolve_configuration(plans: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    configurations = plans.get("configurations")
    if not isinstance(configurations, dict):
        raise BadInputError("missing or not an object", where=f"{where}: configurations")
    resolved: dict[str, Any] = {}
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current in chain:
            raise BadInputError(f"circular inherits_from: {' -> '.join(chain + [current])}", where=f"{where}: configurations.{name}")
        entry = configurations.get(current)
        if not isinstance(entry, dict):
            field = f"configurations.{chain[-1]}.inherits_from" if chain else f"configurations.{name}"
            raise BadInputError(f"unknown configuration {current!r}; the plans have {sorted(configurations)}", where=f"{where}: {field}")
        chain.append(current)
        resolved = {**entry, **resolved}  # the child wins, as in PlansManager
        parent = entry.get("inherits_from")
        current = parent if isinstance(parent, str) else None
    resolved.pop("inherits_from", None)
    return resolved


def _field(config: dict[str, Any], key: str, where: str) -> Any:
    if key not in config:
        raise BadInputError("missing", where=f"{where}.{key}")
    return config[key]


def _int_list(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise BadInputError("expected a non-empty list of positive integers", where=where)
    return tuple(value)


def _per_stage(value: Any, n: int, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n  # dynamic_network_architectures accepts one int for every stage
    values = _int_list(value, where)
    if len(values) != n:
        raise BadInputError(f"expected {n} entries, found {len(values)}", where=where)
    return values


def parse_network(config: dict[str, Any], dims: int, where: str) -> NetworkSpec:
    arch = _field(config, "architecture", where)
    where = f"{where}.architecture"
    if not isinstance(arch, dict):
        raise BadInputError("expected an object", where=where)
    class_name = _field(arch, "network_class_name", where)
    kwargs = _field(arch, "arch_kwargs", where)
    if not isinstance(class_name, str) or not isinstance(kwargs, dict):
        raise BadInputError("expected network_class_name (string) and arch_kwargs (object)", where=where)
    short = class_name.rsplit(".", 1)[-1]
    kind = short if short in (PLAIN_UNET, RESENC_UNET) else "other"
    kw = f"{where}.arch_kwargs"
    n_stages = _field(kwargs, "n_stages", kw)
    if not isinstance(n_stages, int) or n_stages < 2:
        raise BadInputError("expected an integer of at least 2", where=f"{kw}.n_stages")
    features = _per_stage(_field(kwargs, "features_per_stage", kw), n_stages, f"{kw}.features_per_stage")
    kernels = _per_stage_shapes(_field(kwargs, "kernel_sizes", kw), n_stages, dims, f"{kw}.kernel_sizes")
    strides = _per_stage_shapes(_field(kwargs, "strides", kw), n_stages, dims, f"{kw}.strides")
    enc_key = "n_blocks_per_stage" if kind == RESENC_UNET else "n_conv_per_stage"
    n_enc = _per_stage(_field(kwargs, enc_key, kw), n_stages, f"{kw}.{enc_key}")
    n_dec = _per_stage(_field(kwargs, "n_conv_per_stage_decoder", kw), n_stages - 1, f"{kw}.n_conv_per_stage_decoder")
    norm_name = str(kwargs.get("norm_op") or "InstanceNorm").lower()
    nonlin_name = str(kwargs.get("nonlin") or "LeakyReLU").lower()
    requires = arch.get("_kw_requires_import", ["conv_op", "norm_op", "dropout_op", "nonlin"])
    return NetworkSpec(
        class_name=class_name,
        kind=kind,
        n_stages=n_stages,
        features=features,
        kernel_sizes=kernels,
        strides=strides,
        n_conv_encoder=n_enc,
        n_conv_decoder=n_dec,
        conv_bias=bool(kwargs.get("conv_bias", True)),
        norm="batch" if "batchnorm" in norm_name else "instance",
        nonlin="leakyrelu" if "leaky" in nonlin_name else "relu",
        arch_kwargs=dict(kwargs),
        kw_requires_import=tuple(requires) if isinstance(requires, list) else (),
    )


def _per_stage_shapes(value: Any, n: int, dims: int, where: str) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, list) or len(value) != n:
        raise BadInputError(f"expected a list of {n} entries", where=where)
    shapes = []
    for i, entry in enumerate(value):
        shape = (entry,) * dims if isinstance(entry, int) and not isinstance(entry, bool) else _int_list(entry, f"{where}[{i}]")
        if len(shape) != dims:
            raise BadInputError(f"expected {dims} values to match the patch size", where=f"{where}[{i}]")
        shapes.append(shape)
    return tuple(shapes)


def label_facts(dataset_json: dict[str, Any]) -> tuple[int, bool, int | None, int]:
    """(segmentation heads, has regions, ignore label, foreground labels) as nnU-Net's LabelManager derives them."""
    labels = dataset_json.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise BadInputError("missing or empty", where="dataset.json: labels")
    ignore = labels.get("ignore")
    ignore_label = ignore if isinstance(ignore, int) and not isinstance(ignore, bool) else None
    others = {k: v for k, v in labels.items() if k != "ignore"}
    has_regions = any(isinstance(v, (list, tuple)) for v in others.values())
    if has_regions:
        foreground = [v for v in others.values() if v not in (0, [0], (0,))]
        return len(foreground), True, ignore_label, len(foreground)
    return len(others), False, ignore_label, len(others) - 1


def setup_from_plans(
    plans: dict[str, Any], dataset_json: dict[str, Any], configuration: str, *, plans_path: Path, plans_name: str, dataset: str
) -> TrainingSetup:
    where = str(plans_path)
    config = resolve_configuration(plans, configuration, where)
    cfg_where = f"{where}: configurations.{configuration}"
    patch = _int_list(_field(config, "patch_size", cfg_where), f"{cfg_where}.patch_size")
    if len(patch) not in (2, 3):
        raise BadInputError("expected 2 or 3 dimensions", where=f"{cfg_where}.patch_size")
    batch = _field(config, "batch_size", cfg_where)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise BadInputError("expected a positive integer", where=f"{cfg_where}.batch_size")
    network = parse_network(config, len(patch), cfg_where)
    channels = dataset_json.get("channel_names", dataset_json.get("modality"))
    if not isinstance(channels, dict) or not channels:
        raise BadInputError("missing or empty", where="dataset.json: channel_names")
    heads, has_regions, ignore_label, foreground = label_facts(dataset_json)
    # A cascade stage gets the previous stage's one-hot segmentation as extra input channels.
    input_channels = len(channels) + (foreground if config.get("previous_stage") else 0)
    return TrainingSetup(
        dataset=dataset,
        plans_name=plans_name,
        configuration=configuration,
        plans_path=plans_path,
        plans=plans,
        dataset_json=dataset_json,
        batch_size=batch,
        patch_size=patch,
        network=network,
        input_channels=input_channels,
        num_outputs=heads,
        has_regions=has_regions,
        ignore_label=ignore_label,
        batch_dice=bool(config.get("batch_dice", False)),
    )
