"""Shared test helpers: the package on sys.path, fixture copies, and a shrunken 3d_fullres plans."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

FIXTURES = HERE / "fixtures" / "preprocessed"
REPO_ROOT = HERE.parents[2]
RESULT_SCHEMA = REPO_ROOT / "packages" / "api" / "schemas" / "calibration-result.schema.json"


@pytest.fixture
def preprocessed(tmp_path: Path) -> Path:
    """A writable copy of the fixtures' nnUNet_preprocessed folder (derived plans are written into it)."""
    target = tmp_path / "preprocessed"
    shutil.copytree(FIXTURES, target)
    return target


def load_fixture(dataset: str, plans: str = "nnUNetPlans") -> tuple[dict[str, Any], dict[str, Any]]:
    folder = FIXTURES / dataset
    return json.loads((folder / f"{plans}.json").read_text()), json.loads((folder / "dataset.json").read_text())


def shrink(plans: dict[str, Any], configuration: str = "3d_fullres", *, resenc: bool = False) -> dict[str, Any]:
    """The same 3d_fullres plans with a 16^3 patch and three narrow stages: runs in milliseconds on a CPU."""
    small = copy.deepcopy(plans)
    config = small["configurations"][configuration]
    config["patch_size"] = [16, 16, 16]
    kwargs = config["architecture"]["arch_kwargs"]
    kwargs.update(n_stages=3, features_per_stage=[4, 8, 16], kernel_sizes=[[3, 3, 3]] * 3, strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2]])
    kwargs["n_conv_per_stage_decoder"] = [1, 1] if resenc else [2, 2]
    kwargs["n_blocks_per_stage" if resenc else "n_conv_per_stage"] = [1, 2, 2] if resenc else [2, 2, 2]
    return small


def write_plans(preprocessed: Path, dataset: str, name: str, plans: dict[str, Any]) -> Path:
    path = preprocessed / dataset / f"{name}.json"
    path.write_text(json.dumps({**plans, "plans_name": name}, indent=4))
    return path


def result_validator():
    import jsonschema

    schema = json.loads(RESULT_SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema)
