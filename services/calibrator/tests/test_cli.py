"""The CLI contract: exit codes, stdout, termination message and derived plans, with the simulated backend."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HERE, result_validator


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, list[dict]]:
    from nnunet_calibrate.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(args, env=env or {}, stdout=out, stderr=err)
    logs = [json.loads(line) for line in err.getvalue().splitlines()]
    return code, out.getvalue(), logs


def base_args(preprocessed: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["--dataset", "Dataset003_Liver", "--configuration", "3d_fullres", "--plans", "nnUNetPlans", "--backend", "simulated",
            "--preprocessed", str(preprocessed), "--termination-path", str(tmp_path / "termination-log"), *extra]


def test_a_simulated_l40s_calibration_chooses_writes_and_reports(preprocessed: Path, tmp_path: Path):
    code, stdout, logs = run(base_args(preprocessed, tmp_path, "--gpu-product", "NVIDIA-L40S", "--objective", "memory"))
    assert code == 0
    result = json.loads(stdout)
    assert list(result_validator().iter_errors(result)) == []
    assert result["gpu"] == {"name": "NVIDIA L40S", "memoryMiB": 46068.0}
    assert result["builder"] == "simulated" and "torchVersion" not in result
    chosen = result["chosenBatchSize"]
    assert chosen > result["plansBatchSize"] == 2
    usable = [p for p in result["probes"] if p["fits"] and p["withinHeadroom"]]
    assert chosen == max(p["batchSize"] for p in usable)
    assert all(p["peakMemoryMiB"] <= 46068 * 0.9 for p in usable)
    assert (tmp_path / "termination-log").read_text() == stdout.strip()
    derived = json.loads((preprocessed / "Dataset003_Liver" / f"nnUNetPlans_bs{chosen}.json").read_text())
    assert derived["configurations"]["3d_fullres"]["batch_size"] == chosen and derived["plans_name"] == result["derivedPlans"]
    assert [l["msg"] for l in logs].count("probed") == len(result["probes"])


def test_the_gpu_product_comes_from_the_environment_and_a_bigger_gpu_takes_a_bigger_batch(preprocessed: Path, tmp_path: Path):
    chosen = {}
    for product in ("NVIDIA-A10", "NVIDIA-L40S", "NVIDIA-A100-SXM4-80GB"):
        code, stdout, _ = run(base_args(preprocessed, tmp_path, "--objective", "memory", "--plans", "nnUNetPlans"), {"NVIDIA_GPU_PRODUCT": product})
        assert code == 0
        chosen[product] = json.loads(stdout)["chosenBatchSize"]
    assert chosen["NVIDIA-A10"] < chosen["NVIDIA-L40S"] < chosen["NVIDIA-A100-SXM4-80GB"]


def test_a_repeated_calibration_reuses_its_identical_derived_plans(preprocessed: Path, tmp_path: Path):
    first = run(base_args(preprocessed, tmp_path))
    second = run(base_args(preprocessed, tmp_path))
    assert first[0] == second[0] == 0
    assert json.loads(first[1])["chosenBatchSize"] == json.loads(second[1])["chosenBatchSize"]
    assert any(l["msg"] == "derived plans" and l["written"] is False for l in second[2])


@pytest.mark.parametrize(
    "name, change, field",
    [
        ("missing plans file", ["--plans", "nnUNetPlansMissing"], "nnUNetPlansMissing.json"),
        ("unknown configuration", ["--configuration", "3d_fulres"], "configurations.3d_fulres"),
        ("unknown dataset", ["--dataset", "Dataset404_Nothing"], "Dataset404_Nothing"),
        ("headroom out of range", ["--headroom", "1.5"], "--headroom"),
        ("max batch out of range", ["--max-batch", "0"], "--max-batch"),
        ("unknown GPU product", ["--gpu-product", "NVIDIA-Z9000"], "--gpu-product"),
        ("unknown objective", ["--objective", "speed"], "arguments"),
    ],
)
def test_bad_input_exits_2_and_names_the_path_or_field(preprocessed: Path, tmp_path: Path, name, change, field):
    code, stdout, logs = run(base_args(preprocessed, tmp_path) + change)
    assert code == 2, name
    assert stdout == ""
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message["reason"] == "BadInput" and field in message["message"], message
    assert any(field in l.get("message", "") for l in logs)


def test_no_preprocessed_folder_anywhere_is_bad_input(tmp_path: Path):
    code, _, _ = run(["--dataset", "3", "--configuration", "3d_fullres", "--backend", "simulated", "--termination-path", str(tmp_path / "t")])
    assert code == 2
    assert "nnUNet_preprocessed" in json.loads((tmp_path / "t").read_text())["message"]


def test_nothing_fits_exits_3_with_the_probes(preprocessed: Path, tmp_path: Path):
    args = base_args(preprocessed, tmp_path, "--memory-mib", "3000").copy()
    args[1] = "Dataset501_TotalSegCT"
    code, stdout, _ = run(args)
    assert code == 3 and stdout == ""
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message["reason"] == "NothingFits"
    assert [p["batchSize"] for p in message["probes"]] == [2, 1]
    assert not list((preprocessed / "Dataset501_TotalSegCT").glob("*_bs*.json")), "no derived plans"


def test_the_environment_names_the_termination_path_and_the_preprocessed_folder(preprocessed: Path, tmp_path: Path):
    target = tmp_path / "from-env"
    code, stdout, _ = run(["--dataset", "3", "--configuration", "3d_fullres", "--backend", "simulated"],
                          {"nnUNet_preprocessed": str(preprocessed), "NNUNET_TERMINATION_MESSAGE_PATH": str(target)})
    assert code == 0 and target.read_text() == stdout.strip()


def test_the_environment_can_pick_the_simulated_backend_but_a_flag_wins(preprocessed: Path, tmp_path: Path):
    args = ["--dataset", "3", "--configuration", "3d_fullres", "--preprocessed", str(preprocessed), "--termination-path", str(tmp_path / "t")]
    code, stdout, _ = run(args, {"NNUNET_CALIBRATE_BACKEND": "simulated", "NVIDIA_GPU_PRODUCT": "NVIDIA-A10"})
    assert code == 0 and json.loads(stdout)["gpu"]["name"] == "NVIDIA A10"
    code, _, _ = run(args + ["--backend", "simulated"], {"NNUNET_CALIBRATE_BACKEND": "tpu"})
    assert code == 0
    code, _, _ = run(args, {"NNUNET_CALIBRATE_BACKEND": "tpu"})
    assert code == 2 and "NNUNET_CALIBRATE_BACKEND" in json.loads((tmp_path / "t").read_text())["message"]


def test_the_module_runs_as_a_program_in_well_under_a_second_without_torch(preprocessed: Path, tmp_path: Path):
    probe = (
        "import runpy, sys; sys.argv = ['nnunet_calibrate'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('nnunet_calibrate', run_name='__main__')\n"
        "except SystemExit as e:\n    assert 'torch' not in sys.modules, 'the simulated backend imported torch'\n    raise\n"
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, *base_args(preprocessed, tmp_path)], capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["durationSeconds"] < 0.2
    assert elapsed < 3.0, "interpreter start included; the calibration itself is in durationSeconds"
