"""The CalibrationResult JSON (packages/api/src/calibration.ts) and the termination message.

Optional fields are omitted, never null. Kubernetes keeps at most 4096 bytes of a
termination message: numbers are rounded and the JSON is compact; should it still be too
long, probes are dropped from the termination message (never from stdout), keeping the
chosen size and the plans' size.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .search import Probe

SCHEMA_VERSION = 1
TERMINATION_MESSAGE_LIMIT_BYTES = 4096


@dataclass(frozen=True)
class RunFacts:
    """What the result reports besides the search itself."""

    plans: str
    configuration: str
    plans_batch_size: int
    objective: str
    precision: str
    headroom: float
    backend: str
    builder: str
    gpu_name: str
    gpu_memory_mib: float
    torch_version: str | None = None
    nnunet_version: str | None = None


def probe_json(p: Probe) -> dict[str, Any]:
    out: dict[str, Any] = {"batchSize": p.batch_size, "fits": p.fits}
    if p.peak_mib is not None:
        out["peakMemoryMiB"] = round(p.peak_mib, 1)
    if p.samples_per_second is not None:
        out["samplesPerSecond"] = round(p.samples_per_second, 3)
    if p.within_headroom is not None:
        out["withinHeadroom"] = p.within_headroom
    return out


def build_result(
    facts: RunFacts,
    probes: tuple[Probe, ...] | list[Probe],
    chosen: int,
    derived_plans: str,
    *,
    loader_samples_per_second: float | None = None,
    duration_seconds: float | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "chosenBatchSize": chosen,
        "plansBatchSize": facts.plans_batch_size,
        "plans": facts.plans,
        "derivedPlans": derived_plans,
        "configuration": facts.configuration,
        "objective": facts.objective,
        "precision": facts.precision,
        "headroom": facts.headroom,
        "backend": facts.backend,
        "builder": facts.builder,
        "gpu": {"name": facts.gpu_name, "memoryMiB": round(facts.gpu_memory_mib, 1)},
    }
    if facts.torch_version is not None:
        result["torchVersion"] = facts.torch_version
    if facts.nnunet_version is not None:
        result["nnunetVersion"] = facts.nnunet_version
    result["probes"] = [probe_json(p) for p in probes]
    if loader_samples_per_second is not None:
        result["loaderSamplesPerSecond"] = round(loader_samples_per_second, 3)
        chosen_probe = next((p for p in probes if p.batch_size == chosen and p.fits), None)
        if chosen_probe is not None and chosen_probe.samples_per_second is not None:
            result["inputBound"] = loader_samples_per_second < chosen_probe.samples_per_second
    if duration_seconds is not None:
        result["durationSeconds"] = round(duration_seconds, 3)
    return result


def compact(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def termination_message(value: dict[str, Any], limit: int = TERMINATION_MESSAGE_LIMIT_BYTES) -> str:
    text = compact(value)
    if len(text.encode("utf-8")) <= limit or not isinstance(value.get("probes"), list):
        return text
    keep = {value.get("chosenBatchSize"), value.get("plansBatchSize")}
    probes = list(value["probes"])
    trimmed = dict(value)
    # Drop the probes least useful to a reader first: those far from the chosen size.
    order = sorted(
        (i for i, p in enumerate(probes) if p.get("batchSize") not in keep),
        key=lambda i: -abs(probes[i]["batchSize"] - (value.get("chosenBatchSize") or 0)),
    )
    dropped: set[int] = set()
    for i in order:
        dropped.add(i)
        trimmed["probes"] = [p for j, p in enumerate(probes) if j not in dropped]
        text = compact(trimmed)
        if len(text.encode("utf-8")) <= limit:
            return text
    trimmed["probes"] = []
    text = compact(trimmed)
    if len(text.encode("utf-8")) > limit:
        raise ValueError(f"termination message of {len(text.encode('utf-8'))} bytes exceeds {limit} even without probes")
    return text


def failure_message(reason: str, message: str, probes: tuple[Probe, ...] | list[Probe] = ()) -> dict[str, Any]:
    """The termination message of a run that chose nothing (exit 1, 2 or 3): not a CalibrationResult."""
    out: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "reason": reason, "message": message[:1500]}
    if probes:
        out["probes"] = [probe_json(p) for p in probes]
    return out


def write_termination_message(path: Path, text: str) -> None:
    """Kubernetes mounts the file; outside a pod the default path may not be writable, which is no error."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.parent == Path("/dev"):
        # /dev/termination-log is a bind mount: write in place, a rename cannot replace it.
        with path.open("w", encoding="utf-8") as f:
            f.write(text)
        return
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
