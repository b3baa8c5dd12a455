"""The CalibrationResult validates against the JSON Schema exported from packages/api; the termination message fits 4 KiB."""

from __future__ import annotations

import json

import pytest

from conftest import result_validator
from nnunet_calibrate.result import RunFacts, build_result, failure_message, termination_message
from nnunet_calibrate.search import DEFAULT_MAX_PROBES, Probe

FACTS = RunFacts(
    plans="nnUNetPlans",
    configuration="3d_fullres",
    plans_batch_size=2,
    objective="throughput",
    precision="mixed",
    headroom=0.1,
    backend="torch",
    builder="fallback",
    gpu_name="NVIDIA L40S",
    gpu_memory_mib=46068.0,
    torch_version="2.5.1+cu124",
)
PROBES = (Probe(2, True, 6384.62, 15.3219, True), Probe(4, True, 12096.9, 16.1, True), Probe(8, False, None, None, None))


def test_a_result_with_every_optional_field_validates():
    facts = RunFacts(**{**FACTS.__dict__, "nnunet_version": "2.5.1", "builder": "nnunetv2"})
    result = build_result(facts, PROBES, 4, "nnUNetPlans_bs4", loader_samples_per_second=12.5, duration_seconds=93.2)
    assert list(result_validator().iter_errors(result)) == []
    assert result["inputBound"] is True, "the loader delivers 12.5/s, training wants 16.1/s"
    assert result["probes"][2] == {"batchSize": 8, "fits": False}


def test_optional_fields_are_omitted_never_null():
    result = build_result(FACTS, PROBES, 4, "nnUNetPlans_bs4")
    assert list(result_validator().iter_errors(result)) == []
    assert "null" not in json.dumps(result)
    for absent in ("nnunetVersion", "loaderSamplesPerSecond", "inputBound", "durationSeconds"):
        assert absent not in result


def test_the_schema_rejects_what_the_operator_could_not_read():
    validator = result_validator()
    good = build_result(FACTS, PROBES, 4, "nnUNetPlans_bs4")
    assert not validator.is_valid({**good, "chosenBatchSize": 0})
    assert not validator.is_valid({**good, "nnunetVersion": None})
    assert not validator.is_valid({**good, "extra": 1})


def test_a_worst_case_result_still_fits_the_termination_message():
    probes = tuple(Probe(b, True, 81234.56789, 1234.56789, b % 2 == 0) for b in range(1, DEFAULT_MAX_PROBES + 1))
    facts = RunFacts(**{**FACTS.__dict__, "plans": "nnUNetResEncUNetXLPlans_custom", "configuration": "3d_fullres_custom_ps160x320x320",
                        "gpu_name": "NVIDIA H100 80GB HBM3", "nnunet_version": "2.5.1"})
    result = build_result(facts, probes, 20, "nnUNetResEncUNetXLPlans_custom_bs20", loader_samples_per_second=99.123456, duration_seconds=123.456)
    text = termination_message(result)
    assert len(text.encode()) <= 4096
    assert json.loads(text) == result, "nothing had to be dropped"


def test_when_too_long_probes_far_from_the_choice_are_dropped_first():
    probes = tuple(Probe(b, True, 1000.0 * b, float(b), True) for b in range(1, 65))
    result = build_result(FACTS, probes, 40, "nnUNetPlans_bs40")
    text = termination_message(result, limit=2048)
    kept = json.loads(text)
    assert len(text.encode()) <= 2048
    sizes = [p["batchSize"] for p in kept["probes"]]
    assert 40 in sizes and 2 in sizes
    assert 1 not in sizes and 64 not in sizes
    assert sizes == sorted(sizes), "probe order is kept"
    assert list(result_validator().iter_errors(kept)) == []


@pytest.mark.parametrize("reason", ["NothingFits", "BadInput", "CalibrationFailed"])
def test_a_failure_message_is_small_and_says_why(reason):
    text = termination_message(failure_message(reason, "x" * 5000, PROBES))
    parsed = json.loads(text)
    assert parsed["reason"] == reason and len(text.encode()) <= 4096
