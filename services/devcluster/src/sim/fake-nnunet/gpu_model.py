"""The calibrator's simulated GPU model, asked by the simulated nnU-Net (fake-nnunet).

argv: preprocessed dataset plans configuration batch_size reference_batch_size product [memory_mib]
Prints one JSON line: {"peakMib", "memoryMib", "fits", "stepSeconds", "refStepSeconds"}.
Using the calibrator's own model (services/calibrator/nnunet_calibrate/simulated.py) keeps the
two in agreement: a batch size the simulated calibration picks also fits the simulated
training, and one it rejects runs out of memory here.
"""

import json
import sys
from pathlib import Path

from nnunet_calibrate.gpus import lookup
from nnunet_calibrate.plans import load_setup
from nnunet_calibrate.simulated import CUDA_CONTEXT_MIB, build_step_model, peak_reserved_mib, step_seconds

pre, dataset, plans, config, bs, ref_bs, product = sys.argv[1:8]
gpu = lookup(product)
memory = float(sys.argv[8]) if len(sys.argv) > 8 and sys.argv[8] else float(gpu.memory_mib)
model = build_step_model(load_setup(Path(pre), dataset, plans, config))


def at(batch: int) -> tuple[float, float]:
    peak = peak_reserved_mib(model, batch, "mixed")
    return peak, step_seconds(model, batch, "mixed", gpu, min(1.0, peak / memory))


peak, step = at(int(bs))
_, ref_step = at(int(ref_bs))
print(json.dumps({"peakMib": peak + CUDA_CONTEXT_MIB, "memoryMib": memory, "fits": peak + CUDA_CONTEXT_MIB <= memory, "stepSeconds": step, "refStepSeconds": ref_step}))
