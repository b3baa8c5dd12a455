"""GPU products the simulated backend knows, keyed like the nvidia.com/gpu.product node label.

Memory is what the driver reports (nvidia-smi, MiB); compute is the dense tensor-core peak
(FP16 with FP32 accumulate; TF32, or FP32 where the card has no TF32) and memory bandwidth,
from the vendors' datasheets. Only ratios between cards matter to the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError


@dataclass(frozen=True)
class GpuProduct:
    name: str  # as nvidia-smi / torch.cuda.get_device_name report it
    memory_mib: int
    fp16_tflops: float
    tf32_tflops: float
    bandwidth_gbs: float
    sms: int


# The table lives in gpu_products.json beside this file, which the devcluster's simulated
# nodes read too (one table, so both sides agree on what fits).
_TABLE = json.loads((Path(__file__).with_name("gpu_products.json")).read_text(encoding="utf-8"))

PRODUCTS: dict[str, GpuProduct] = {
    key: GpuProduct(p["name"], p["memoryMib"], p["fp16Tflops"], p["tf32Tflops"], p["bandwidthGbs"], p["sms"])
    for key, p in _TABLE["products"].items()
}

# Product label spellings (GPU feature discovery, nvidia-smi names) -> key above.
ALIASES: dict[str, str] = dict(_TABLE["aliases"])


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
