"""The simulated backend: a memory and throughput model of one training step, per GPU product.

No torch here (the devcluster runs this on machines without it, and it must answer in well
under a second). The model is derived from the plans: feature-map sizes per stage, the
convolutions of the U-Net described by the architecture, the segmentation outputs of deep
supervision. Its constants are rough but chosen so that the stock 3d_fullres plans (patch
128^3, 6 stages, 2 samples) land near nnU-Net's documented ~8 GB and near the epoch times
of real logs; what matters for the demo is that the search behaves as on a real GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .gpus import GpuProduct
from .plans import RESENC_UNET, TrainingSetup
from .search import ProbeOutcome

MIB = 1024 * 1024
CUDA_CONTEXT_MIB = 600  # outside torch's reserved memory, but it still takes device memory
WORKSPACE_MIB = 256  # cuDNN workspaces and allocator slack that do not scale with the batch
FRAGMENTATION = 1.45  # backward transients and caching-allocator rounding over saved tensors
COMPUTE_EFFICIENCY = 0.30  # of dense tensor peak reached by 3D convolutions
BANDWIDTH_EFFICIENCY = 0.70
TRAFFIC_PER_ELEMENT = 10  # reads and writes of each feature map in forward and backward
STEP_OVERHEAD_S = 0.012  # kernel launches, loss bookkeeping, gradient clipping
SATURATION_PER_SM = 60_000  # voxel-features of the first stage that keep one SM busy


@dataclass(frozen=True)
class StepModel:
    params: int
    feature_elements: int  # saved feature-map elements per sample
    output_elements: int  # segmentation-output elements per sample (all deep-supervision levels)
    input_elements: int
    macs: int  # multiply-accumulates of one forward pass per sample
    first_stage_work: int  # voxels x features of the full-resolution stage


def _volume(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def build_step_model(setup: TrainingSetup) -> StepModel:
    net = setup.network
    voxels = []
    size = list(setup.patch_size)
    for stride in net.strides:
        size = [max(1, s // st) for s, st in zip(size, stride)]
        voxels.append(_volume(tuple(size)))
    params = saved = macs = 0
    per_unit = 5 if net.kind == RESENC_UNET else 2  # tensors saved per conv block (residual blocks: 2 convs + skip)
    convs_per_unit = 2 if net.kind == RESENC_UNET else 1
    c_in = setup.input_channels
    for s in range(net.n_stages):
        k, f, v = _volume(net.kernel_sizes[s]), net.features[s], voxels[s]
        for i in range(net.n_conv_encoder[s]):
            for j in range(convs_per_unit):
                cin = c_in if i == 0 and j == 0 else f
                params += k * cin * f
                macs += v * k * cin * f
            saved += per_unit * v * f
        c_in = f
    for s in range(net.n_stages - 2, -1, -1):
        k, f, v, up = _volume(net.kernel_sizes[s]), net.features[s], voxels[s], _volume(net.strides[s + 1])
        params += up * net.features[s + 1] * f + setup.num_outputs * f
        macs += voxels[s + 1] * up * net.features[s + 1] * f + v * f * setup.num_outputs
        saved += 3 * v * f  # transposed-conv output and the skip concatenation
        for i in range(net.n_conv_decoder[s]):
            cin = 2 * f if i == 0 else f
            params += k * cin * f
            macs += v * k * cin * f
            saved += 2 * v * f
    outputs = setup.num_outputs * sum(voxels[: net.n_stages - 1])
    return StepModel(params, saved, outputs, setup.input_channels * _volume(setup.patch_size), macs, voxels[0] * net.features[0])


def peak_reserved_mib(model: StepModel, batch: int, precision: str) -> float:
    mixed = precision == "mixed"
    feature_bytes = 2 if mixed else 4
    output_bytes = 18 if mixed else 20  # logits, softmax, log-softmax, one-hot and their gradients
    param_bytes = 14 if mixed else 12  # fp32 weights, grads, momentum (+ autocast's fp16 copies)
    per_sample = model.feature_elements * feature_bytes * FRAGMENTATION + model.output_elements * output_bytes + model.input_elements * 8
    return (model.params * param_bytes + batch * per_sample) / MIB + WORKSPACE_MIB


def step_seconds(model: StepModel, batch: int, precision: str, gpu: GpuProduct, fill: float) -> float:
    """Seconds of one training step; `fill` is the peak over the device memory."""
    mixed = precision == "mixed"
    tflops = gpu.fp16_tflops if mixed else gpu.tf32_tflops
    compute = 6 * model.macs / (tflops * 1e12 * COMPUTE_EFFICIENCY)  # forward + backward (2 flops per MAC, x3)
    traffic = model.feature_elements * (2 if mixed else 4) * TRAFFIC_PER_ELEMENT / (gpu.bandwidth_gbs * 1e9 * BANDWIDTH_EFFICIENCY)
    # Small batches of small patches leave SMs idle; large 3D patches saturate the GPU at batch 1.
    utilisation = 1.0 - math.exp(-batch * model.first_stage_work / (gpu.sms * SATURATION_PER_SM))
    optimizer = model.params * 16 / (gpu.bandwidth_gbs * 1e9 * BANDWIDTH_EFFICIENCY)
    seconds = STEP_OVERHEAD_S + optimizer + batch * (compute + traffic) / utilisation
    if fill > 0.9:  # the caching allocator starts splitting and freeing blocks near the limit
        seconds *= 1.0 + 3.0 * (fill - 0.9)
    return seconds


class SimulatedBackend:
    """Answers probes from the model; memory_mib overrides the product's memory (tests, odd cards)."""

    def __init__(self, setup: TrainingSetup, gpu: GpuProduct, precision: str, memory_mib: float | None = None) -> None:
        self.gpu = gpu
        self.memory_mib = float(memory_mib if memory_mib is not None else gpu.memory_mib)
        self.precision = precision
        self.model = build_step_model(setup)

    def probe(self, batch: int) -> ProbeOutcome:
        peak = peak_reserved_mib(self.model, batch, self.precision)
        if peak + CUDA_CONTEXT_MIB > self.memory_mib:
            return ProbeOutcome(fits=False, note="out of memory (model)")
        seconds = step_seconds(self.model, batch, self.precision, self.gpu, peak / self.memory_mib)
        return ProbeOutcome(fits=True, peak_mib=peak, samples_per_second=batch / seconds)
