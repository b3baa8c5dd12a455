"""The batch-size search and the choice: pure, driven by a probe function.

The same code runs against real torch steps, the simulated GPU model and the fakes in
the tests. A probe reports whether the training steps ran (no out-of-memory), the peak
memory and the samples per second; the search decides which size to try next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

Objective = Literal["throughput", "memory"]

# Measured samples/s jitter by a percent or two between identical runs; sizes within this
# fraction of the best count as tied, and the smaller one wins (less memory, more steps).
DEFAULT_TIE_TOLERANCE = 0.02
# Bounds the search (and the termination message, which must stay under 4 KiB).
DEFAULT_MAX_PROBES = 24


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe observed. `peak_mib` is required when the steps ran."""

    fits: bool
    peak_mib: float | None = None
    samples_per_second: float | None = None
    note: str | None = None  # why it did not fit, for the log


@dataclass(frozen=True)
class Probe:
    batch_size: int
    fits: bool
    peak_mib: float | None
    samples_per_second: float | None
    within_headroom: bool | None

    @property
    def usable(self) -> bool:
        return self.fits and self.within_headroom is True


@dataclass(frozen=True)
class SearchConfig:
    start: int
    max_batch: int
    memory_mib: float
    headroom: float
    objective: Objective
    growth: int = 2
    max_probes: int = DEFAULT_MAX_PROBES
    tie_tolerance: float = DEFAULT_TIE_TOLERANCE

    @property
    def limit_mib(self) -> float:
        return self.memory_mib * (1.0 - self.headroom)


@dataclass(frozen=True)
class SearchOutcome:
    probes: tuple[Probe, ...]
    chosen: int | None  # None: nothing fits, not even batch size 1


def record(batch_size: int, outcome: ProbeOutcome, limit_mib: float) -> Probe:
    if not outcome.fits:
        # An out-of-memory, even one that might not recur, marks the size unusable: a
        # training run repeats the step hundreds of thousands of times.
        return Probe(batch_size, False, None, None, None)
    if outcome.peak_mib is None:
        raise ValueError(f"probe of batch size {batch_size} fit but reported no peak memory")
    return Probe(batch_size, True, outcome.peak_mib, outcome.samples_per_second, outcome.peak_mib <= limit_mib)


def run_search(config: SearchConfig, probe: Callable[[int], ProbeOutcome]) -> SearchOutcome:
    """Start at the plans' size, grow geometrically to the first unusable size or max_batch,
    then bisect between the last usable and the first unusable size. A size over the
    headroom bounds the search like an out-of-memory does: memory grows with the batch."""
    if config.max_batch < 1 or config.growth < 2 or config.max_probes < 1:
        raise ValueError("max_batch >= 1, growth >= 2 and max_probes >= 1 are required")
    probes: list[Probe] = []

    def usable(batch_size: int) -> bool:
        p = record(batch_size, probe(batch_size), config.limit_mib)
        probes.append(p)
        return p.usable

    def budget_left() -> bool:
        return len(probes) < config.max_probes

    start = max(1, min(config.start, config.max_batch))
    lo, hi = 0, None  # largest usable size known, smallest unusable size known
    if usable(start):
        lo = start
        while lo < config.max_batch and budget_left():
            nxt = min(lo * config.growth, config.max_batch)
            if usable(nxt):
                lo = nxt
            else:
                hi = nxt
                break
    else:
        hi = start
    while hi is not None and hi - lo > 1 and budget_left():
        mid = (lo + hi) // 2
        if usable(mid):
            lo = mid
        else:
            hi = mid
    return SearchOutcome(tuple(probes), choose(probes, config.objective, config.tie_tolerance))


def choose(probes: list[Probe] | tuple[Probe, ...], objective: Objective, tie_tolerance: float = DEFAULT_TIE_TOLERANCE) -> int | None:
    """Among the sizes that ran within the headroom: the largest (memory), or the one with
    the most samples per second, ties (within tie_tolerance) going to the smaller (throughput)."""
    candidates = [p for p in probes if p.usable]
    if not candidates:
        return None
    if objective == "memory":
        return max(p.batch_size for p in candidates)
    best = max(p.samples_per_second or 0.0 for p in candidates)
    tied = [p.batch_size for p in candidates if (p.samples_per_second or 0.0) >= best * (1.0 - tie_tolerance)]
    return min(tied)
