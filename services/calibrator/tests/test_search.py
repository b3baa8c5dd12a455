"""The search and the choice against fake backends."""

from __future__ import annotations

import random

import pytest

from nnunet_calibrate.search import Probe, ProbeOutcome, SearchConfig, choose, record, run_search

GPU_MIB = 10_000.0


def linear_gpu(per_sample: float, base: float = 1000.0, sps=lambda b: 10.0 * b / (b + 1.0)):
    """Memory grows linearly with the batch; out of memory above the device."""
    calls: list[int] = []

    def probe(b: int) -> ProbeOutcome:
        calls.append(b)
        peak = base + per_sample * b
        if peak > GPU_MIB:
            return ProbeOutcome(fits=False)
        return ProbeOutcome(True, peak, sps(b))

    return probe, calls


def config(**overrides) -> SearchConfig:
    values = dict(start=2, max_batch=64, memory_mib=GPU_MIB, headroom=0.1, objective="memory")
    values.update(overrides)
    return SearchConfig(**values)


@pytest.mark.parametrize(
    "name, per_sample, start, expected_probes, expected",
    [
        # limit 9000 MiB: base 1000 + 1000*b fits up to b = 8
        ("grows from the plans' size, fails above the limit and bisects back", 1000.0, 2, [2, 4, 8, 16, 12, 10, 9], 8),
        ("a boundary exactly on the headroom limit counts as within it", 800.0, 2, [2, 4, 8, 16, 12, 10, 11], 10),
        ("a plans' size that does not fit halves down to the largest that does", 3000.0, 8, [8, 4, 2, 3], 2),
        ("starting at 1 on a tight GPU", 7000.0, 1, [1, 2], 1),
    ],
)
def test_memory_boundaries(name, per_sample, start, expected_probes, expected):
    probe, calls = linear_gpu(per_sample)
    outcome = run_search(config(start=start), probe)
    assert calls == expected_probes, name
    assert outcome.chosen == expected, name
    assert [p.batch_size for p in outcome.probes] == calls


def test_throughput_picks_the_peak_of_a_non_monotonic_curve():
    # samples/s rises to batch 8, then falls (e.g. cuDNN switches algorithms); all fit up to 13.
    curve = {2: 10.0, 4: 14.0, 8: 17.0, 16: 0.0, 12: 15.0, 14: 0.0, 13: 12.0}
    calls: list[int] = []

    def probe(b: int) -> ProbeOutcome:
        calls.append(b)
        return ProbeOutcome(False) if b > 13 else ProbeOutcome(True, 500.0 * b, curve[b])

    outcome = run_search(config(objective="throughput"), probe)
    assert calls == [2, 4, 8, 16, 12, 14, 13]
    assert outcome.chosen == 8
    assert run_search(config(objective="memory"), probe).chosen == 13


@pytest.mark.parametrize(
    "name, speeds, expected",
    [
        ("an exact tie goes to the smaller size", {2: 10.0, 4: 20.0, 8: 20.0}, 4),
        ("a difference within the 2% measurement noise is a tie", {2: 10.0, 4: 19.8, 8: 20.0}, 4),
        ("a clear win is not a tie", {2: 10.0, 4: 19.0, 8: 20.0}, 8),
    ],
)
def test_throughput_ties_go_to_the_smaller_size(name, speeds, expected):
    probes = [Probe(b, True, 100.0 * b, s, True) for b, s in speeds.items()]
    assert choose(probes, "throughput") == expected, name


def test_an_out_of_memory_that_happens_only_sometimes_is_caught_and_the_size_avoided():
    seen: set[int] = set()

    def probe(b: int) -> ProbeOutcome:
        # Batch 8 really fits (peak 8500) but ran out of memory the first time it was tried.
        if b == 8 and b not in seen:
            seen.add(b)
            return ProbeOutcome(False)
        seen.add(b)
        peak = 500.0 + 1000.0 * b
        return ProbeOutcome(False) if peak > GPU_MIB else ProbeOutcome(True, peak, float(b))

    outcome = run_search(config(), probe)
    assert [p.batch_size for p in outcome.probes] == [2, 4, 8, 6, 7]
    assert outcome.chosen == 7
    assert all(p.batch_size < 8 for p in outcome.probes if p.usable)


@pytest.mark.parametrize("seed", range(40))
def test_random_flaky_out_of_memory_never_yields_a_size_at_or_above_a_failure(seed):
    rng = random.Random(seed)
    true_limit = rng.randint(1, 80)

    def probe(b: int) -> ProbeOutcome:
        if b > true_limit or rng.random() < 0.25:
            return ProbeOutcome(False)
        return ProbeOutcome(True, 100.0 * b, rng.uniform(1.0, 2.0) * b)

    outcome = run_search(config(start=rng.randint(1, 12), objective=rng.choice(["memory", "throughput"])), probe)
    sizes = [p.batch_size for p in outcome.probes]
    assert len(sizes) == len(set(sizes)), "no size is probed twice"
    assert all(1 <= b <= 64 for b in sizes)
    failures = [p.batch_size for p in outcome.probes if not p.usable]
    if outcome.chosen is not None:
        assert outcome.chosen <= true_limit
        assert all(outcome.chosen < f for f in failures)
    else:
        assert 1 in failures, "nothing fits only after batch size 1 failed"


def test_headroom_excludes_sizes_that_fit_but_leave_too_little_free_memory():
    probe, calls = linear_gpu(1000.0, base=500.0)  # b=9 peaks at 9500: fits the GPU, not the 20% headroom
    outcome = run_search(config(headroom=0.2), probe)
    assert outcome.chosen == 7
    over = [p for p in outcome.probes if p.fits and not p.within_headroom]
    assert over and all(p.peak_mib > 8000 for p in over)
    assert calls == [2, 4, 8, 6, 7], "growth stops at the first size over the headroom, though it fit"
    assert run_search(config(headroom=0.0), linear_gpu(1000.0, base=500.0)[0]).chosen == 9


@pytest.mark.parametrize(
    "name, start, max_batch, expected_probes",
    [
        ("growth stops at max_batch when everything fits", 2, 24, [2, 4, 8, 16, 24]),
        ("a plans' size above max_batch starts at max_batch", 40, 6, [6]),
        ("max_batch of 1 probes only 1", 2, 1, [1]),
    ],
)
def test_max_batch_is_never_exceeded(name, start, max_batch, expected_probes):
    probe, calls = linear_gpu(1.0)
    outcome = run_search(config(start=start, max_batch=max_batch), probe)
    assert calls == expected_probes, name
    assert outcome.chosen == max_batch


def test_nothing_fits_not_even_batch_size_1():
    probe, calls = linear_gpu(20_000.0)
    outcome = run_search(config(start=4), probe)
    assert outcome.chosen is None
    assert calls == [4, 2, 1]
    assert all(not p.fits for p in outcome.probes)


def test_the_probe_budget_bounds_the_search():
    probe, calls = linear_gpu(1.0)
    outcome = run_search(config(start=1, max_batch=4096, max_probes=5), probe)
    assert calls == [1, 2, 4, 8, 16]
    assert outcome.chosen == 16


def test_a_fitting_probe_without_a_peak_is_a_backend_bug():
    with pytest.raises(ValueError, match="no peak memory"):
        record(4, ProbeOutcome(True, None, 1.0), 100.0)
