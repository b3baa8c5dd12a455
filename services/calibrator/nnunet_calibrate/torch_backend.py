"""The torch backend: real training steps (forward, loss, backward, optimizer step) per batch size.

A step is nnUNetTrainer.train_step: SGD (lr 1e-2, momentum 0.99, Nesterov, weight decay
3e-5), autocast with a GradScaler under mixed precision, gradients unscaled and clipped to
norm 12. On CUDA the peak is torch's peak reserved memory. On CPU (smoke tests only) there
is no such counter: the peak is estimated from the tensors autograd saves, and the device
memory is a budget given on the command line.
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from .errors import BadInputError, DeviceUnavailableError
from .plans import TrainingSetup
from .search import ProbeOutcome

MIB = 1024 * 1024
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class StepCounts:
    warmup: int = 2
    timed: int = 3


# Errors that mean "this batch is too big for this GPU", not "the code is wrong". cuDNN and
# cuBLAS report allocation failures in their own words; kernels refuse tensors past 2^31
# elements (118 classes x 16 x 128^3 logits are past it) before memory runs out.
CAPACITY_ERRORS = ("out of memory", "ALLOC_FAILED", "CUDNN_STATUS_NOT_SUPPORTED", "32-bit index", "canUse32BitIndexMath")


def is_out_of_memory(error: BaseException) -> bool:
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, RuntimeError) and any(marker in str(error) for marker in CAPACITY_ERRORS)


class CudaMeter:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.name = torch.cuda.get_device_name(device)
        self.total_mib = torch.cuda.get_device_properties(device).total_memory / MIB

    def reset(self) -> None:
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()  # cached blocks of the previous probe would count as this probe's peak
        torch.cuda.reset_peak_memory_stats(self.device)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        yield

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def peak_mib(self) -> float:
        return torch.cuda.max_memory_reserved(self.device) / MIB

    def over_budget(self) -> bool:
        return False  # the allocator itself raises out-of-memory


class CpuEstimateMeter:
    """Peak = parameters, gradients and momentum + the largest sum of autograd-saved tensors and inputs in a step."""

    def __init__(self, budget_mib: float, static_bytes: int) -> None:
        self.name = "cpu"
        self.total_mib = budget_mib
        self.static_bytes = static_bytes
        self._saved: dict[int, int] = {}
        self._peak = 0

    def reset(self) -> None:
        self._peak = 0

    def add(self, tensor: torch.Tensor) -> None:
        self._saved.setdefault(tensor.data_ptr(), tensor.element_size() * tensor.nelement())

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        self._saved = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            self.add(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield
        self._peak = max(self._peak, self.static_bytes + sum(self._saved.values()))

    def synchronize(self) -> None:
        pass

    def peak_mib(self) -> float:
        return self._peak / MIB

    def over_budget(self) -> bool:
        return self.peak_mib() > self.total_mib


class TorchProber:
    def __init__(
        self,
        setup: TrainingSetup,
        network: nn.Module,
        loss: Callable[..., torch.Tensor],
        device: torch.device,
        precision: str,
        meter: CudaMeter | CpuEstimateMeter,
        steps: StepCounts = StepCounts(),
        seed: int = 0,
    ) -> None:
        self.setup, self.loss, self.device, self.meter, self.steps = setup, loss, device, meter, steps
        self.network = network.to(device)
        self.network.train()
        # nnU-Net autocasts on CUDA only; on CPU it trains in full precision.
        self.mixed = precision == "mixed" and device.type == "cuda"
        self.optimizer = torch.optim.SGD(self.network.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.largest_run: int | None = None

    def _batch(self, batch_size: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        s = self.setup
        data = torch.randn((batch_size, s.input_channels, *s.patch_size), generator=self.generator).to(self.device)
        targets = []
        for shape in s.output_shapes():
            if s.has_regions:
                # one channel per region, plus nnU-Net's ignore mask as the last channel when there is an ignore label
                channels = s.num_outputs + (1 if s.ignore_label is not None else 0)
                y = torch.randint(0, 2, (batch_size, channels, *shape), generator=self.generator)
            else:
                y = torch.randint(0, s.num_outputs, (batch_size, 1, *shape), generator=self.generator)
            targets.append(y.float().to(self.device))  # nnU-Net's loader delivers float segmentations
        return data, targets

    def _step(self, data: torch.Tensor, targets: list[torch.Tensor], scaler: Any) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        autocast = torch.autocast(self.device.type, enabled=True) if self.mixed else contextlib.nullcontext()
        with self.meter.watching():
            with autocast:
                output = self.network(data)
                loss = self.loss(output, targets)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
                scaler.step(self.optimizer)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
                self.optimizer.step()

    def _run(self, batch_size: int) -> float:
        # A fresh scaler per probe: one interrupted by an out-of-memory is left mid-step.
        scaler = make_grad_scaler() if self.mixed else None
        data, targets = self._batch(batch_size)
        for _ in range(self.steps.warmup):
            self._step(data, targets, scaler)
        self.meter.synchronize()
        start = time.perf_counter()
        for _ in range(self.steps.timed):
            self._step(data, targets, scaler)
        self.meter.synchronize()
        return time.perf_counter() - start

    def probe(self, batch_size: int) -> ProbeOutcome:
        # Past 2^31 elements some CUDA kernels index with 32-bit integers and write out of
        # bounds instead of raising (seen on an H200 with torch 2.11: 16 x 118 x 128^3 logits
        # ended in "illegal memory access", which leaves the CUDA context unusable), so such a
        # size is refused before it runs.
        elements = self.setup.largest_tensor_elements(batch_size)
        if elements > INT32_MAX:
            return ProbeOutcome(fits=False, note=f"a tensor of {elements} elements is past 2^31 - 1, the limit of 32-bit indexed kernels")
        self.meter.reset()
        elapsed: float | None = None
        reason: str | None = None
        try:
            elapsed = self._run(batch_size)
        except RuntimeError as e:
            # Another error at a size larger than one that ran is a limit of some kernel at
            # that size (the code path itself works): not fitting, with the message logged.
            if not is_out_of_memory(e) and (self.largest_run is None or batch_size <= self.largest_run):
                raise
            reason = str(e).split("\n", 1)[0][:200]
        # Cleanup happens here, outside the except block: the exception's traceback holds the
        # step's tensors, and only leaving the block frees them.
        self.optimizer.zero_grad(set_to_none=True)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if elapsed is None or self.meter.over_budget():
            return ProbeOutcome(fits=False, note=reason or "over the memory budget")
        self.largest_run = max(batch_size, self.largest_run or 0)
        return ProbeOutcome(fits=True, peak_mib=self.meter.peak_mib(), samples_per_second=batch_size * self.steps.timed / elapsed)


def make_grad_scaler() -> Any:
    """torch >= 2.3 has torch.amp.GradScaler("cuda") and deprecates the torch.cuda.amp spelling."""
    modern = getattr(torch.amp, "GradScaler", None)
    return modern("cuda") if modern is not None else torch.cuda.amp.GradScaler()


def resolve_device(name: str) -> torch.device:
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError("CUDA is not available to torch; the torch backend needs a GPU (or --device cpu for a smoke test)")
        return torch.device("cuda", torch.cuda.current_device())
    if name == "cpu":
        return torch.device("cpu")
    raise BadInputError(f"unknown device {name!r}", where="--device")


def parameter_state_bytes(network: nn.Module) -> int:
    """Weights, gradients and SGD momentum, all fp32."""
    return 3 * sum(p.numel() * p.element_size() for p in network.parameters())
