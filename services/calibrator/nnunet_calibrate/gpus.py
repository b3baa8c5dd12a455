"""GPU products the simulated backend knows, keyed like the nvidia.com/gpu.product node label.

Memory is what the driver reports (nvidia-smi, MiB); compute is the dense tensor-core peak
(FP16 with FP32 accumulate; TF32, or FP32 where the card has no TF32) and memory bandwidth,
from the vendors' datasheets. Only ratios between cards matter to the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadInputError


@dataclass(frozen=True)
class GpuProduct:
    name: str  # as nvidia-smi / torch.cuda.get_device_name report it
    memory_mib: int
    fp16_tflops: float
    tf32_tflops: float
    bandwidth_gbs: float
    sms: int


PRODUCTS: dict[str, GpuProduct] = {
    "l40s": GpuProduct("NVIDIA L40S", 46068, 362.0, 183.0, 864.0, 142),
    "a10080gb": GpuProduct("NVIDIA A100-SXM4-80GB", 81920, 312.0, 156.0, 2039.0, 108),
    "a10040gb": GpuProduct("NVIDIA A100-SXM4-40GB", 40960, 312.0, 156.0, 1555.0, 108),
    "h10080gb": GpuProduct("NVIDIA H100 80GB HBM3", 81559, 989.0, 494.0, 3350.0, 132),
    "h100pcie": GpuProduct("NVIDIA H100 PCIe", 81559, 756.0, 378.0, 2000.0, 114),
    "h200": GpuProduct("NVIDIA H200", 143771, 989.0, 494.0, 4800.0, 132),
    "a10": GpuProduct("NVIDIA A10", 23028, 125.0, 62.5, 600.0, 72),
    "l4": GpuProduct("NVIDIA L4", 23034, 121.0, 60.0, 300.0, 58),
    "t4": GpuProduct("Tesla T4", 15360, 65.0, 8.1, 320.0, 40),
    "v10032gb": GpuProduct("Tesla V100-SXM2-32GB", 32768, 125.0, 15.7, 900.0, 80),
    "rtx4090": GpuProduct("NVIDIA GeForce RTX 4090", 24564, 165.0, 82.6, 1008.0, 128),
}

# Product label spellings (GPU feature discovery, nvidia-smi names) -> key above.
ALIASES = {
    "a100sxm480gb": "a10080gb",
    "a10080gbpcie": "a10080gb",
    "a100pcie80gb": "a10080gb",
    "a100sxm440gb": "a10040gb",
    "a100pcie40gb": "a10040gb",
    "a100": "a10040gb",
    "h10080gbhbm3": "h10080gb",
    "h100sxm580gb": "h10080gb",
    "h100": "h10080gb",
    "h200141gbhbm3e": "h200",
    "v100sxm232gb": "v10032gb",
    "geforcertx4090": "rtx4090",
}


def normalize(product: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", product.lower())
    for prefix in ("nvidia", "tesla"):
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix) :]
    return key


def lookup(product: str, field: str = "--gpu-product") -> GpuProduct:
    key = normalize(product)
    key = ALIASES.get(key, key)
    found = PRODUCTS.get(key)
    if found is None:
        known = ", ".join(sorted(p.name for p in PRODUCTS.values()))
        raise BadInputError(f"unknown GPU product {product!r}; the simulated backend knows: {known}", where=field)
    return found
