"""CPU smoke test with real torch: the fallback network and loss from 3d_fullres plans, real training
steps at two batch sizes, out-of-memory handling, and a whole search under a fake memory budget."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")  # Debian's python3-torch; scripts/setup.sh installs it

from conftest import load_fixture, result_validator, shrink, write_plans  # noqa: E402
from nnunet_calibrate.backends import choose_builder  # noqa: E402
from nnunet_calibrate.errors import BadInputError  # noqa: E402
from nnunet_calibrate.fallback_loss import build_fallback_loss, deep_supervision_weights  # noqa: E402
from nnunet_calibrate.fallback_net import FallbackUNet  # noqa: E402
from nnunet_calibrate.plans import setup_from_plans  # noqa: E402
from nnunet_calibrate.simulated import build_step_model  # noqa: E402
from nnunet_calibrate.torch_backend import CpuEstimateMeter, StepCounts, TorchProber, parameter_state_bytes  # noqa: E402


def make_setup(plans_file: str = "nnUNetPlans", *, small: bool = True, resenc: bool = False, configuration: str = "3d_fullres"):
    plans, dataset = load_fixture("Dataset003_Liver", plans_file)
    if small:
        plans = shrink(plans, resenc=resenc)
    return setup_from_plans(plans, dataset, configuration, plans_path=Path(f"/x/{plans_file}.json"), plans_name=plans_file, dataset="Dataset003_Liver")


def make_prober(setup, budget_mib: float = 1000.0, network=None):
    torch.manual_seed(0)
    network = network or FallbackUNet(setup.network, setup.input_channels, setup.num_outputs)
    meter = CpuEstimateMeter(budget_mib, parameter_state_bytes(network))
    return TorchProber(setup, network, build_fallback_loss(setup), torch.device("cpu"), "mixed", meter, StepCounts(1, 1))


@pytest.mark.parametrize("plans_file, resenc", [("nnUNetPlans", False), ("nnUNetResEncUNetMPlans", True)])
def test_the_fallback_network_has_nnunets_deep_supervision_outputs(plans_file, resenc):
    setup = make_setup(plans_file, resenc=resenc)
    net = FallbackUNet(setup.network, setup.input_channels, setup.num_outputs)
    outputs = net(torch.zeros(2, setup.input_channels, *setup.patch_size))
    assert [tuple(o.shape) for o in outputs] == [(2, 3, *shape) for shape in setup.output_shapes()]


def test_the_full_size_3d_fullres_network_has_nnunets_parameter_count():
    setup = make_setup(small=False)
    net = FallbackUNet(setup.network, setup.input_channels, setup.num_outputs)
    conv_weights = sum(m.weight.numel() for m in net.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)))
    assert conv_weights == build_step_model(setup).params, "the simulated model counts the same convolutions"
    assert 30.5e6 < sum(p.numel() for p in net.parameters()) < 31.5e6, "nnU-Net's default 3d_fullres U-Net has ~31M"


def test_deep_supervision_weights_halve_per_level_and_drop_the_lowest():
    weights = deep_supervision_weights(5)
    assert weights == pytest.approx([w / 1.875 for w in (1, 0.5, 0.25, 0.125, 0)])


def test_the_loss_is_dice_plus_cross_entropy_and_trains_every_used_head():
    setup = make_setup()
    net = FallbackUNet(setup.network, setup.input_channels, setup.num_outputs)
    targets = [torch.randint(0, 3, (2, 1, *s)).float() for s in setup.output_shapes()]
    loss = build_fallback_loss(setup)(net(torch.randn(2, 1, *setup.patch_size)), targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert -1.0 < loss.item() < 5.0, "CE of 3 classes (~1.1) plus a negative soft Dice"
    loss.backward()
    assert net.heads[-1].weight.grad is not None and net.heads[-1].weight.grad.abs().sum() > 0  # full resolution


def test_real_training_steps_at_two_batch_sizes():
    setup = make_setup()
    prober = make_prober(setup)
    before = [p.detach().clone() for p in prober.network.parameters()]
    one, two = prober.probe(1), prober.probe(2)
    assert one.fits and two.fits
    assert two.peak_mib > one.peak_mib > parameter_state_bytes(prober.network) / 2**20
    assert one.samples_per_second > 0 and two.samples_per_second > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, prober.network.parameters())), "the optimizer stepped"
    assert prober.mixed is False, "like nnU-Net, no autocast on CPU"


@pytest.mark.parametrize(
    "name, labels",
    [
        ("labels with an ignore label", {"background": 0, "liver": 1, "tumor": 2, "ignore": 3}),
        ("overlapping regions", {"background": 0, "whole": [1, 2], "core": 2}),
        ("regions with an ignore label", {"background": 0, "whole": [1, 2], "core": 2, "ignore": 3}),
    ],
)
def test_training_steps_run_for_every_kind_of_label(name, labels):
    plans, dataset = load_fixture("Dataset003_Liver")
    dataset["labels"] = labels
    setup = setup_from_plans(shrink(plans), dataset, "3d_fullres", plans_path=Path("/x/p.json"), plans_name="p", dataset="d")
    assert make_prober(setup).probe(2).fits, name


class RunsOutOfMemoryAbove(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, limit: int, error: Exception) -> None:
        super().__init__()
        self.inner, self.limit, self.error = inner, limit, error

    def forward(self, x):
        if x.shape[0] > self.limit:
            raise self.error
        return self.inner(x)


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 44.99 GiB total capacity)"),
        RuntimeError("CUDA error: out of memory"),
        RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if you passed in a non-contiguous input."),
        RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        RuntimeError("Expected canUse32BitIndexMath(input) && canUse32BitIndexMath(output) to be true, but got false."),
    ],
    ids=["torch OOM", "CUDA OOM", "cuDNN", "cuBLAS", "32-bit indexing"],
)
def test_an_out_of_memory_is_caught_released_and_the_search_goes_on(error):
    setup = make_setup()
    inner = FallbackUNet(setup.network, setup.input_channels, setup.num_outputs)
    prober = make_prober(setup, network=RunsOutOfMemoryAbove(inner, 2, error))
    failed = prober.probe(4)
    assert not failed.fits and failed.note
    assert all(p.grad is None for p in prober.network.parameters()), "gradients of the failed step are released"
    assert prober.probe(2).fits


def test_an_error_that_is_not_out_of_memory_is_not_swallowed():
    setup = make_setup()
    inner = FallbackUNet(setup.network, setup.input_channels, setup.num_outputs)
    prober = make_prober(setup, network=RunsOutOfMemoryAbove(inner, 0, RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        prober.probe(1)


def test_an_unknown_error_above_a_size_that_ran_is_a_limit_of_that_size():
    setup = make_setup()
    inner = FallbackUNet(setup.network, setup.input_channels, setup.num_outputs)
    prober = make_prober(setup, network=RunsOutOfMemoryAbove(inner, 2, RuntimeError("numel needs to be smaller than int32_t max")))
    assert prober.probe(2).fits
    failed = prober.probe(4)
    assert not failed.fits and "int32_t" in failed.note


def test_a_search_with_real_steps_completes_under_a_fake_memory_budget(preprocessed: Path, tmp_path: Path):
    from nnunet_calibrate.cli import main

    plans, _ = load_fixture("Dataset003_Liver")
    write_plans(preprocessed, "Dataset003_Liver", "tinyPlans", shrink(plans))
    out, err = io.StringIO(), io.StringIO()
    args = ["--dataset", "Dataset003_Liver", "--configuration", "3d_fullres", "--plans", "tinyPlans", "--backend", "torch",
            "--device", "cpu", "--memory-mib", "6", "--warmup-steps", "1", "--timed-steps", "1",
            "--preprocessed", str(preprocessed), "--termination-path", str(tmp_path / "t")]
    assert main(args, env={}, stdout=out, stderr=err) == 0, err.getvalue()
    result = json.loads(out.getvalue())
    assert list(result_validator().iter_errors(result)) == []
    assert (result["backend"], result["builder"], result["precision"]) == ("torch", "fallback", "full")
    assert result["torchVersion"] == torch.__version__
    sizes = [p["batchSize"] for p in result["probes"]]
    assert sizes[:3] == [2, 4, 8] and any(not p["fits"] for p in result["probes"]), "the budget was reached"
    chosen = next(p for p in result["probes"] if p["batchSize"] == result["chosenBatchSize"])
    assert chosen["fits"] and chosen["peakMemoryMiB"] <= 6 * 0.9
    derived = json.loads((preprocessed / "Dataset003_Liver" / f"tinyPlans_bs{result['chosenBatchSize']}.json").read_text())
    assert derived["configurations"]["3d_fullres"]["batch_size"] == result["chosenBatchSize"]


@pytest.mark.parametrize(
    "name, requested, importable, kind, expected",
    [
        ("auto takes nnunetv2 when importable", "auto", True, "PlainConvUNet", "nnunetv2"),
        ("auto falls back without nnunetv2", "auto", False, "PlainConvUNet", "fallback"),
        ("the fallback can be forced", "fallback", True, "ResidualEncoderUNet", "fallback"),
        ("a custom architecture is fine for nnunetv2", "auto", True, "MyUNet", "nnunetv2"),
    ],
)
def test_the_builder_choice(name, requested, importable, kind, expected):
    setup = make_setup()
    network = setup.network.__class__(**{**setup.network.__dict__, "kind": kind})
    assert choose_builder(setup.__class__(**{**setup.__dict__, "network": network}), requested, importable) == expected, name


@pytest.mark.parametrize(
    "name, requested, importable, kind, where",
    [
        ("nnunetv2 asked for but missing", "nnunetv2", False, "PlainConvUNet", "--builder"),
        ("a custom architecture without nnunetv2", "auto", False, "other", "architecture.network_class_name"),
    ],
)
def test_a_builder_that_cannot_run_is_bad_input(name, requested, importable, kind, where):
    setup = make_setup()
    network = setup.network.__class__(**{**setup.network.__dict__, "kind": kind})
    with pytest.raises(BadInputError) as info:
        choose_builder(setup.__class__(**{**setup.__dict__, "network": network}), requested, importable)
    assert where in info.value.where, name


def test_a_2d_configuration_builds_and_trains():
    plans, dataset = load_fixture("Dataset003_Liver")
    config = plans["configurations"]["2d"]
    config["patch_size"] = [32, 32]
    kwargs = config["architecture"]["arch_kwargs"]
    kwargs.update(n_stages=3, features_per_stage=[4, 8, 16], kernel_sizes=[[3, 3]] * 3, strides=[[1, 1], [2, 2], [2, 2]],
                  n_conv_per_stage=[2, 2, 2], n_conv_per_stage_decoder=[2, 2])
    setup = setup_from_plans(plans, dataset, "2d", plans_path=Path("/x/p.json"), plans_name="p", dataset="d")
    prober = make_prober(setup)
    assert isinstance(prober.network.encoder[0][0][0], torch.nn.Conv2d)
    one, two = prober.probe(1), prober.probe(2)
    assert one.fits and two.fits and two.peak_mib > one.peak_mib


class MustNotRun(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        raise AssertionError(f"a batch of {x.shape[0]} was run")


def test_a_batch_whose_logits_pass_2_31_elements_is_refused_without_running():
    # Seen on an H200 (torch 2.11): 16 x 118 classes x 128^3 logits made a kernel write out of
    # bounds ("illegal memory access"), which no except clause can recover from.
    plans, dataset = load_fixture("Dataset501_TotalSegCT")
    setup = setup_from_plans(plans, dataset, "3d_fullres", plans_path=Path("/x/nnUNetPlans.json"), plans_name="nnUNetPlans", dataset="Dataset501_TotalSegCT")
    assert setup.largest_tensor_elements(8) == 8 * 118 * 128**3 < 2**31 - 1
    assert setup.largest_tensor_elements(16) > 2**31 - 1
    prober = TorchProber(setup, MustNotRun(), build_fallback_loss(setup), torch.device("cpu"), "mixed", CpuEstimateMeter(1e9, 0), StepCounts(1, 1))
    refused = prober.probe(16)
    assert not refused.fits
    assert "2^31 - 1" in refused.note
