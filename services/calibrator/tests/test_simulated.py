"""The simulated backend's model: shaped by the plans and the GPU product, and plausible."""

from __future__ import annotations

import pytest

from conftest import FIXTURES
from nnunet_calibrate.errors import BadInputError
from nnunet_calibrate.gpus import lookup
from nnunet_calibrate.plans import load_setup
from nnunet_calibrate.simulated import SimulatedBackend, build_step_model, peak_reserved_mib

LIVER = load_setup(FIXTURES, "Dataset003_Liver", "nnUNetPlans", "3d_fullres")
WHOLE_BODY = load_setup(FIXTURES, "Dataset501_TotalSegCT", "nnUNetPlans", "3d_fullres")
L40S = lookup("NVIDIA-L40S")


@pytest.mark.parametrize(
    "label, name, memory",
    [
        ("NVIDIA-L40S", "NVIDIA L40S", 46068),
        ("NVIDIA-A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", 81920),
        ("NVIDIA-A100-80GB-PCIe", "NVIDIA A100-SXM4-80GB", 81920),
        ("NVIDIA-H100-80GB-HBM3", "NVIDIA H100 80GB HBM3", 81559),
        ("NVIDIA A10", "NVIDIA A10", 23028),
        ("Tesla-T4", "Tesla T4", 15360),
        ("nvidia-h200", "NVIDIA H200", 143771),
    ],
)
def test_gpu_products_are_found_by_their_node_label_or_driver_name(label, name, memory):
    gpu = lookup(label)
    assert (gpu.name, gpu.memory_mib) == (name, memory)


def test_an_unknown_gpu_product_is_bad_input_naming_the_flag():
    with pytest.raises(BadInputError) as info:
        lookup("AMD-MI300X")
    assert info.value.where == "--gpu-product" and "NVIDIA L40S" in info.value.message


def test_the_stock_3d_fullres_plans_need_about_what_nnunet_targets():
    # nnU-Net plans 3d_fullres for roughly 8 GB with batch 2 under mixed precision.
    assert 5_000 < peak_reserved_mib(build_step_model(LIVER), 2, "mixed") < 9_000


def test_memory_grows_linearly_with_the_batch_and_full_precision_needs_more():
    model = build_step_model(LIVER)
    peaks = [peak_reserved_mib(model, b, "mixed") for b in (1, 2, 3, 4)]
    steps = [b - a for a, b in zip(peaks, peaks[1:])]
    assert max(steps) - min(steps) < 1e-6 and steps[0] > 0
    assert peak_reserved_mib(model, 4, "full") > 1.5 * peak_reserved_mib(model, 4, "mixed")


def test_many_output_classes_cost_memory_through_the_deep_supervision_outputs():
    liver, whole_body = build_step_model(LIVER), build_step_model(WHOLE_BODY)
    assert whole_body.output_elements == liver.output_elements * 118 // 3
    assert peak_reserved_mib(whole_body, 2, "mixed") > 1.8 * peak_reserved_mib(liver, 2, "mixed")


def test_mixed_precision_trains_faster_than_full():
    mixed, full = SimulatedBackend(LIVER, L40S, "mixed"), SimulatedBackend(LIVER, L40S, "full")
    assert mixed.probe(2).samples_per_second > 1.5 * full.probe(2).samples_per_second


def test_larger_batches_help_small_2d_patches_more_than_large_3d_ones():
    two_d = SimulatedBackend(load_setup(FIXTURES, "3", "nnUNetPlans", "2d"), L40S, "mixed")
    three_d = SimulatedBackend(LIVER, L40S, "mixed")
    gain = lambda backend, a, b: backend.probe(b).samples_per_second / backend.probe(a).samples_per_second
    assert gain(two_d, 1, 16) > 2.0
    assert 1.0 < gain(three_d, 1, 8) < 1.4


def test_out_of_memory_is_where_the_peak_and_the_cuda_context_exceed_the_card():
    backend = SimulatedBackend(LIVER, L40S, "mixed")
    fits = [b for b in range(1, 40) if backend.probe(b).fits]
    assert fits == list(range(1, len(fits) + 1))
    assert backend.probe(len(fits)).peak_mib <= 46068 and not backend.probe(len(fits) + 1).fits


def test_a_memory_override_models_a_smaller_card():
    assert SimulatedBackend(LIVER, L40S, "mixed", memory_mib=8_000).probe(2).fits
    assert not SimulatedBackend(LIVER, L40S, "mixed", memory_mib=8_000).probe(3).fits
