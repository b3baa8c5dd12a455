"""Benchmark of the simulated calibration: what it chooses per plans and GPU product, and how fast.

Prints a table; `npm run bench:calibrator` runs it. No torch needed.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nnunet_calibrate.gpus import lookup  # noqa: E402
from nnunet_calibrate.plans import load_setup  # noqa: E402
from nnunet_calibrate.search import SearchConfig, run_search  # noqa: E402
from nnunet_calibrate.simulated import SimulatedBackend  # noqa: E402

FIXTURES = HERE.parent / "tests" / "fixtures" / "preprocessed"
CASES = [
    ("Dataset003_Liver", "nnUNetPlans", "3d_fullres"),
    ("Dataset003_Liver", "nnUNetPlans", "2d"),
    ("Dataset003_Liver", "nnUNetResEncUNetMPlans", "3d_fullres"),
    ("Dataset501_TotalSegCT", "nnUNetPlans", "3d_fullres"),
]
GPUS = ["NVIDIA-L40S", "NVIDIA-A10", "NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3"]


def main() -> None:
    print(f"{'plans / configuration':<52} {'gpu':<24} {'prec':<5} {'plans bs':>8} {'memory':>6} {'thrpt':>6} {'speed-up':>8} {'probes':>6}")
    for dataset, plans, configuration in CASES:
        setup = load_setup(FIXTURES, dataset, plans, configuration)
        for gpu_name in GPUS:
            for precision in ("mixed", "full"):
                backend = SimulatedBackend(setup, lookup(gpu_name), precision)
                chosen = {}
                for objective in ("memory", "throughput"):
                    config = SearchConfig(setup.batch_size, 64, backend.memory_mib, 0.1, objective)  # type: ignore[arg-type]
                    outcome = run_search(config, backend.probe)
                    chosen[objective] = outcome
                by_size = {p.batch_size: p for p in chosen["throughput"].probes}
                base, best = by_size.get(setup.batch_size), by_size.get(chosen["throughput"].chosen or 0)
                speedup = f"{best.samples_per_second / base.samples_per_second:.2f}x" if base and best and base.usable else "-"
                label = f"{dataset}/{plans}/{configuration}"
                print(f"{label:<52} {gpu_name:<24} {precision:<5} {setup.batch_size:>8} {chosen['memory'].chosen or '-':>6} "
                      f"{chosen['throughput'].chosen or '-':>6} {speedup:>8} {len(chosen['throughput'].probes):>6}")

    # End to end through the CLI, as the devcluster runs it (plans read, search, derived plans written).
    from nnunet_calibrate.cli import main as cli_main

    import io

    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "preprocessed"
        shutil.copytree(FIXTURES, pre)
        for _ in range(50):
            start = time.perf_counter()
            code = cli_main(["--dataset", "Dataset501_TotalSegCT", "--configuration", "3d_fullres", "--backend", "simulated",
                             "--preprocessed", str(pre), "--termination-path", str(Path(tmp) / "t")],
                            env={}, stdout=io.StringIO(), stderr=io.StringIO())
            timings.append(time.perf_counter() - start)
            assert code == 0
    timings.sort()
    print(f"\nsimulated calibration through the CLI (in-process, 50 runs): "
          f"p50 {statistics.median(timings) * 1000:.1f} ms, p99 {timings[int(len(timings) * 0.99) - 1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
