#!/usr/bin/env bash
# GPU check: the real CUDA path of the calibrator (fallback builder, mixed precision) on a
# 3d_fullres plans shaped like a whole-body CT model (patch 128^3, 6 stages, 118 outputs).
# Prints peak memory and samples/s per probed batch size, the chosen size and the speed-up
# over the plans' batch size. Finishes in under 5 minutes; refuses without CUDA.
# Usage: services/calibrator/gpu-check.sh   (PYTHON=python3 by default; extra args go to the calibrator)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${PYTHON:-python3}"

if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "gpu-check: torch is not importable by $py; run this on a machine with a CUDA build of PyTorch (set PYTHON=...)" >&2
  exit 1
fi
if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu-check: CUDA is not available to torch ($("$py" -c 'import torch; print(torch.__version__)')); this check needs an NVIDIA GPU" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A copy: the derived plans are written beside the plans, never into the repository.
cp -r "$here/tests/fixtures/preprocessed" "$work/preprocessed"

"$py" -c 'import torch; p = torch.cuda.get_device_properties(0); print(f"gpu-check: {p.name}, {p.total_memory / 2**20:.0f} MiB, torch {torch.__version__}")'
start=$(date +%s)
set +e
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" timeout 290 "$py" -m nnunet_calibrate \
  --dataset Dataset501_TotalSegCT --configuration 3d_fullres --plans nnUNetPlans \
  --backend torch --device cuda --builder fallback --precision mixed --objective throughput \
  --max-batch 32 --preprocessed "$work/preprocessed" --termination-path "$work/termination-log" "$@" \
  >"$work/result.json" 2>"$work/log.jsonl"
code=$?
set -e
if [ "$code" -ne 0 ] && [ "$code" -ne 3 ]; then
  echo "gpu-check: the calibrator exited with $code; its log:" >&2
  tail -n 40 "$work/log.jsonl" >&2
  exit "$code"
fi
"$py" - "$work/result.json" "$work/termination-log" "$code" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
result_path, termination_path, code, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if code == 3:
    failure = json.load(open(termination_path))
    print(f"gpu-check: nothing fits: {failure['message']}")
    for p in failure.get("probes", []):
        print(f"  batch {p['batchSize']:>3}: out of memory")
    sys.exit(3)
r = json.load(open(result_path))
print(f"gpu-check: {r['gpu']['name']} ({r['gpu']['memoryMiB']:.0f} MiB), builder {r['builder']}, precision {r['precision']}, "
      f"headroom {r['headroom']:.0%}, torch {r.get('torchVersion')}")
print(f"{'batch':>5}  {'fits':>5}  {'peak MiB':>9}  {'samples/s':>9}  within headroom")
for p in r["probes"]:
    peak = f"{p['peakMemoryMiB']:9.0f}" if "peakMemoryMiB" in p else f"{'-':>9}"
    sps = f"{p['samplesPerSecond']:9.2f}" if "samplesPerSecond" in p else f"{'-':>9}"
    within = {True: "yes", False: "no"}.get(p.get("withinHeadroom"), "-")
    print(f"{p['batchSize']:>5}  {str(p['fits']).lower():>5}  {peak}  {sps}  {within}")
by_size = {p["batchSize"]: p for p in r["probes"]}
chosen, base = by_size[r["chosenBatchSize"]], by_size.get(r["plansBatchSize"])
print(f"chosen batch size: {r['chosenBatchSize']} (plans: {r['plansBatchSize']}), derived plans {r['derivedPlans']}")
if base and base.get("samplesPerSecond"):
    print(f"speed-up over the plans' batch size: {chosen['samplesPerSecond'] / base['samplesPerSecond']:.2f}x "
          f"({base['samplesPerSecond']:.2f} -> {chosen['samplesPerSecond']:.2f} samples/s)")
else:
    print("speed-up over the plans' batch size: n/a (the plans' batch size did not fit)")
print(f"calibration took {r.get('durationSeconds', 0):.0f} s ({seconds} s with start-up)")
PY
