"""Assembles a backend (something that answers probes) from the options.

torch is imported only for the torch backend: the simulated one must start fast on
machines without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import BadInputError, DeviceUnavailableError
from .gpus import lookup
from .log import Logger
from .options import Options
from .plans import PLAIN_UNET, RESENC_UNET, TrainingSetup
from .search import ProbeOutcome
from .simulated import SimulatedBackend


@dataclass
class Backend:
    probe: Callable[[int], ProbeOutcome]
    builder: str
    gpu_name: str
    memory_mib: float
    precision: str  # what the probes really ran under
    torch_version: str | None = None
    nnunet_version: str | None = None
    measure_loader: Callable[[int], float] | None = None


def simulated_backend(setup: TrainingSetup, options: Options) -> Backend:
    gpu = lookup(options.gpu_product)
    sim = SimulatedBackend(setup, gpu, options.precision, options.memory_mib)
    return Backend(sim.probe, "simulated", gpu.name, sim.memory_mib, options.precision)


def choose_builder(setup: TrainingSetup, requested: str, nnunet_importable: bool) -> str:
    if requested == "nnunetv2" and not nnunet_importable:
        raise BadInputError("nnunetv2 is not importable in this image", where="--builder")
    if requested == "nnunetv2" or (requested == "auto" and nnunet_importable):
        return "nnunetv2"
    if setup.network.kind not in (PLAIN_UNET, RESENC_UNET):
        raise BadInputError(
            f"the fallback builder knows {PLAIN_UNET} and {RESENC_UNET}, not {setup.network.class_name}; run in an image with nnunetv2",
            where=f"{setup.plans_path}: configurations.{setup.configuration}.architecture.network_class_name",
        )
    return "fallback"


def torch_backend(setup: TrainingSetup, options: Options, preprocessed: Path, log: Logger) -> Backend:
    try:
        import torch
    except ImportError as e:
        raise DeviceUnavailableError("torch is not importable here; the torch backend runs in the nnU-Net image", cause=e) from e

    from . import nnunet_adapter
    from .fallback_loss import build_fallback_loss
    from .fallback_net import FallbackUNet
    from .torch_backend import CpuEstimateMeter, CudaMeter, StepCounts, TorchProber, parameter_state_bytes, resolve_device

    device = resolve_device(options.device)
    if device.type == "cpu" and options.memory_mib is None:
        raise BadInputError("the CPU smoke path needs a memory budget in MiB", where="--memory-mib")
    torch.manual_seed(options.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as nnUNetv2_train sets it
    nnunet_importable = nnunet_adapter.nnunet_available()
    builder = choose_builder(setup, options.builder, nnunet_importable)
    if builder == "nnunetv2":
        network, loss = nnunet_adapter.build_nnunet_network(setup), nnunet_adapter.build_nnunet_loss(setup)
    else:
        network = FallbackUNet(setup.network, setup.input_channels, setup.num_outputs, deep_supervision=True)
        loss = build_fallback_loss(setup)
    if device.type == "cuda":
        meter: CudaMeter | CpuEstimateMeter = CudaMeter(device)
        memory_mib = meter.total_mib if options.memory_mib is None else min(meter.total_mib, options.memory_mib)
    else:
        meter = CpuEstimateMeter(float(options.memory_mib or 0), parameter_state_bytes(network))
        memory_mib = meter.total_mib
    prober = TorchProber(setup, network, loss, device, options.precision, meter, StepCounts(options.warmup_steps, options.timed_steps), options.seed)
    log.info("network built", builder=builder, parameters=sum(p.numel() for p in network.parameters()), device=str(device))

    measure = None
    if nnunet_importable and device.type == "cuda" and options.loader_batches > 0:

        def measure(batch_size: int) -> float:
            return nnunet_adapter.measure_loader(setup, preprocessed, batch_size, options.loader_batches, device)

    return Backend(
        prober.probe,
        builder,
        meter.name,
        memory_mib,
        "mixed" if prober.mixed else "full",
        torch_version=str(torch.__version__),
        nnunet_version=nnunet_adapter.nnunet_version(),
        measure_loader=measure,
    )
