"""The derived plans: a copy of the plans with the calibrated batch size, saved beside the original.

Only `configurations.<C>.batch_size` changes, plus `plans_name`: nnU-Net's trainer names its
output folder `<Trainer>__<plans_name>__<config>` from that field, so a derived file that
kept the original name would train into the original plans' results folder. The
data_identifier is untouched, so training reuses the preprocessed data as it is.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .errors import BadInputError


def derived_plans_name(plans_name: str, batch_size: int) -> str:
    return f"{plans_name}_bs{batch_size}"


def derive_plans(plans: dict[str, Any], configuration: str, batch_size: int, new_name: str) -> dict[str, Any]:
    derived = copy.deepcopy(plans)
    # Setting it on the configuration itself (not on the one it inherits from) changes this
    # configuration only, as inheritance is a shallow update of the child over the parent.
    derived["configurations"][configuration]["batch_size"] = batch_size
    if "plans_name" in derived:
        derived["plans_name"] = new_name
    return derived


def serialize(plans: dict[str, Any]) -> str:
    return json.dumps(plans, indent=4) + "\n"  # nnU-Net writes plans with indent 4


def write_derived_plans(path: Path, plans: dict[str, Any]) -> bool:
    """Writes atomically and never replaces a different file of the same name.
    Returns False when an identical file is already there (a repeated calibration)."""
    if path.exists():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadInputError("exists and is not a readable plans file; will not overwrite it", where=str(path), cause=e) from e
        if existing == plans:
            return False
        raise BadInputError("exists with different content; will not overwrite it", where=str(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(serialize(plans))
            f.flush()
            os.fsync(f.fileno())
        try:
            # link() fails if the name appeared meanwhile: no window in which another writer's file is clobbered.
            os.link(tmp, path)
        except FileExistsError:
            return write_derived_plans(path, plans)
        except OSError:
            os.replace(tmp, path)  # filesystems without hard links
    except OSError as e:
        raise BadInputError(f"cannot write the derived plans ({e})", where=str(path), cause=e) from e
    finally:
        tmp.unlink(missing_ok=True)
    return True
