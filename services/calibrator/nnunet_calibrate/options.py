"""Command line and environment: the only place either is read."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .errors import BadInputError

DEFAULT_TERMINATION_PATH = "/dev/termination-log"
TERMINATION_PATH_ENV = "NNUNET_TERMINATION_MESSAGE_PATH"
GPU_PRODUCT_ENV = "NVIDIA_GPU_PRODUCT"
BACKEND_ENV = "NNUNET_CALIBRATE_BACKEND"  # lets the devcluster pick the simulated backend without rewriting Job args
DEFAULT_GPU_PRODUCT = "NVIDIA-L40S"


@dataclass(frozen=True)
class Options:
    dataset: str
    configuration: str
    plans: str
    headroom: float
    max_batch: int
    objective: str
    precision: str
    backend: str
    preprocessed: Path | None
    termination_path: Path
    termination_path_explicit: bool
    gpu_product: str
    memory_mib: float | None
    device: str
    builder: str
    warmup_steps: int
    timed_steps: int
    loader_batches: int
    seed: int


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInputError(message, where="arguments")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m nnunet_calibrate", description="Calibrate the nnU-Net v2 training batch size to the GPU.")
    p.add_argument("--dataset", required=True, help="dataset name (Dataset003_Liver) or id (3)")
    p.add_argument("--configuration", required=True, help="plans configuration, e.g. 3d_fullres")
    p.add_argument("--plans", default="nnUNetPlans", help="plans identifier (default nnUNetPlans)")
    p.add_argument("--headroom", type=float, default=0.1, help="fraction of GPU memory to leave free (default 0.1)")
    p.add_argument("--max-batch", type=int, default=64, help="largest batch size to probe (default 64)")
    p.add_argument("--objective", choices=("throughput", "memory"), default="throughput")
    p.add_argument("--precision", choices=("mixed", "full"), default="mixed")
    p.add_argument("--backend", choices=("torch", "simulated"), help=f"default: ${BACKEND_ENV} or torch")
    p.add_argument("--preprocessed", type=Path, help="nnUNet_preprocessed folder (default: $nnUNet_preprocessed)")
    p.add_argument("--termination-path", type=Path, help=f"termination message file (default: ${TERMINATION_PATH_ENV} or {DEFAULT_TERMINATION_PATH})")
    p.add_argument("--gpu-product", help=f"simulated backend: GPU product (default: ${GPU_PRODUCT_ENV} or {DEFAULT_GPU_PRODUCT})")
    p.add_argument("--memory-mib", type=float, help="GPU memory in MiB instead of the device's (simulated, CUDA) or the budget (CPU)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="torch backend device; cpu only for smoke tests")
    p.add_argument("--builder", choices=("auto", "nnunetv2", "fallback"), default="auto", help="network builder (default: nnunetv2 when importable)")
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--timed-steps", type=int, default=3)
    p.add_argument("--loader-batches", type=int, default=20, help="batches to time nnU-Net's data loader with (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    return p


def parse_options(argv: Sequence[str], env: Mapping[str, str]) -> Options:
    a = build_parser().parse_args(list(argv))
    if not 0.0 <= a.headroom < 1.0:
        raise BadInputError("must be at least 0 and below 1", where="--headroom")
    if not 1 <= a.max_batch <= 4096:
        raise BadInputError("must be between 1 and 4096", where="--max-batch")
    if a.memory_mib is not None and a.memory_mib <= 0:
        raise BadInputError("must be positive", where="--memory-mib")
    if a.warmup_steps < 0 or a.timed_steps < 1 or a.loader_batches < 0:
        raise BadInputError("warm-up steps >= 0, timed steps >= 1, loader batches >= 0", where="--warmup-steps/--timed-steps/--loader-batches")
    backend = a.backend or env.get(BACKEND_ENV) or "torch"
    if backend not in ("torch", "simulated"):
        raise BadInputError(f"expected torch or simulated, got {backend!r}", where=BACKEND_ENV)
    preprocessed = a.preprocessed or (Path(env["nnUNet_preprocessed"]) if env.get("nnUNet_preprocessed") else None)
    explicit = a.termination_path is not None or bool(env.get(TERMINATION_PATH_ENV))
    termination = a.termination_path or Path(env.get(TERMINATION_PATH_ENV) or DEFAULT_TERMINATION_PATH)
    return Options(
        dataset=a.dataset,
        configuration=a.configuration,
        plans=a.plans,
        headroom=a.headroom,
        max_batch=a.max_batch,
        objective=a.objective,
        precision=a.precision,
        backend=backend,
        preprocessed=preprocessed,
        termination_path=termination,
        termination_path_explicit=explicit,
        gpu_product=a.gpu_product or env.get(GPU_PRODUCT_ENV) or DEFAULT_GPU_PRODUCT,
        memory_mib=a.memory_mib,
        device=a.device,
        builder=a.builder,
        warmup_steps=a.warmup_steps,
        timed_steps=a.timed_steps,
        loader_batches=a.loader_batches,
        seed=a.seed,
    )
