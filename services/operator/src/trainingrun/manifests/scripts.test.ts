import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { DERIVE_PLANS_PY, VALIDATE_PY, ValidationMessage } from "./scripts.js";

// The two Python helpers run for real here (python3 is in every nnU-Net image and on CI).

const repoRoot = resolve(import.meta.dirname, "../../../../..");
const root = mkdtempSync(join(tmpdir(), "nnunet-scripts-"));
after(() => rmSync(root, { recursive: true, force: true }));

const py = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync("python3", ["-c", script, ...args], { encoding: "utf8", env: { ...process.env, ...env } });

describe("derive-plans helper", () => {
  const pre = join(root, "pre");
  const ds = join(pre, "Dataset003_Liver");
  mkdirSync(ds, { recursive: true });
  const plans = {
    plans_name: "nnUNetPlans",
    configurations: { "3d_fullres": { batch_size: 2, patch_size: [128, 128, 128] }, "2d": { batch_size: 12 } },
  };
  writeFileSync(join(ds, "nnUNetPlans.json"), JSON.stringify(plans));

  it("writes <plans>_bs<N>.json with only the configuration's batch size and plans_name changed", () => {
    const r = py(DERIVE_PLANS_PY, [pre, "Dataset003_Liver", "nnUNetPlans", "3d_fullres", "6"]);
    assert.equal(r.status, 0, r.stderr);
    const derived = JSON.parse(readFileSync(join(ds, "nnUNetPlans_bs6.json"), "utf8"));
    assert.deepEqual(derived, {
      ...plans,
      plans_name: "nnUNetPlans_bs6",
      configurations: { ...plans.configurations, "3d_fullres": { batch_size: 6, patch_size: [128, 128, 128] } },
    });
  });

  it("writes byte for byte what the calibrator writes, so whichever comes first the file is the same", () => {
    const calibrator = join(repoRoot, "services/calibrator");
    const viaCalibrator = spawnSync(
      "python3",
      [
        "-c",
        "import json,sys\nfrom pathlib import Path\nfrom nnunet_calibrate.derive import derive_plans, derived_plans_name, write_derived_plans\np=json.load(open(sys.argv[1]))\nname=derived_plans_name('nnUNetPlans', 7)\nwrite_derived_plans(Path(sys.argv[2]), derive_plans(p, '3d_fullres', 7, name))",
        join(ds, "nnUNetPlans.json"),
        join(ds, "calibrator_bs7.json"),
      ],
      { encoding: "utf8", env: { ...process.env, PYTHONPATH: calibrator } },
    );
    assert.equal(viaCalibrator.status, 0, viaCalibrator.stderr);
    assert.equal(py(DERIVE_PLANS_PY, [pre, "Dataset003_Liver", "nnUNetPlans", "3d_fullres", "7"]).status, 0);
    assert.equal(
      readFileSync(join(ds, "nnUNetPlans_bs7.json"), "utf8"),
      readFileSync(join(ds, "calibrator_bs7.json"), "utf8"),
    );
    // The calibrator's file in place first: the init container keeps it.
    rmSync(join(ds, "nnUNetPlans_bs7.json"));
    writeFileSync(join(ds, "nnUNetPlans_bs7.json"), readFileSync(join(ds, "calibrator_bs7.json")));
    assert.equal(py(DERIVE_PLANS_PY, [pre, "Dataset003_Liver", "nnUNetPlans", "3d_fullres", "7"]).status, 0);
  });

  it("keeps an existing identical derived file and never overwrites a different one", () => {
    assert.equal(py(DERIVE_PLANS_PY, [pre, "Dataset003_Liver", "nnUNetPlans", "3d_fullres", "6"]).status, 0);
    const other = JSON.stringify({ configurations: { "3d_fullres": { batch_size: 4 } } });
    writeFileSync(join(ds, "nnUNetPlans_bs4.json"), other);
    const r = py(DERIVE_PLANS_PY, [pre, "Dataset003_Liver", "nnUNetPlans", "3d_fullres", "4"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /exists with different content; will not overwrite it/);
    assert.equal(readFileSync(join(ds, "nnUNetPlans_bs4.json"), "utf8"), other);
  });

  it("fails with a message naming the fix when the plans or the configuration are missing", () => {
    assert.match(
      py(DERIVE_PLANS_PY, [pre, "Dataset003_Liver", "OtherPlans", "3d_fullres", "4"]).stderr,
      /not found: run nnUNetv2_plan_and_preprocess or fix spec\.plans/,
    );
    assert.match(
      py(DERIVE_PLANS_PY, [pre, "Dataset003_Liver", "nnUNetPlans", "3d_lowres", "3"]).stderr,
      /3d_lowres is not in .*fix spec\.configuration/,
    );
  });
});

describe("validation wrapper", () => {
  const fold = join(root, "results", "fold_0");
  mkdirSync(fold, { recursive: true });
  writeFileSync(join(fold, "checkpoint_best.pth"), "best");
  // A stand-in for nnUNetv2_train --val: writes summary.json as nnU-Net v2 does, or fails.
  const fake = join(root, "fake-train");
  writeFileSync(
    fake,
    `#!/usr/bin/env python3
import json, os, sys
if os.environ.get("FAIL"): sys.exit(int(os.environ["FAIL"]))
fold = sys.argv[1]
assert os.path.exists(os.path.join(fold, "checkpoint_final.pth")), "no final checkpoint"
os.makedirs(os.path.join(fold, "validation"), exist_ok=True)
json.dump({"foreground_mean": {"Dice": 0.91234567}, "mean": {"1": {"Dice": 0.95}, "2": {"Dice": float("nan")}}, "metric_per_case": []}, open(os.path.join(fold, "validation", "summary.json"), "w"))
`,
  );
  chmodSync(fake, 0o755);
  const term = join(root, "termination-log");

  it("links the best checkpoint as the final one an early-stopped fold lacks, runs validation and writes a compact Dice message", () => {
    const r = py(VALIDATE_PY, [fold, "best", fake, fold], { TERMINATION_MESSAGE_PATH: term });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readlinkSync(join(fold, "checkpoint_final.pth")), "checkpoint_best.pth");
    const message = ValidationMessage.parse(JSON.parse(readFileSync(term, "utf8")));
    assert.deepEqual(message, { schemaVersion: 1, checkpoint: "best", meanDice: 0.91235, perClassDice: [0.95, null] });
  });

  it("validates an audited fold's kept checkpoint too, in place of checkpoint_best.pth for one run, and puts everything back", () => {
    const audited = join(root, "results", "fold_1");
    mkdirSync(audited, { recursive: true });
    writeFileSync(join(audited, "checkpoint_best.pth"), "0.93");
    writeFileSync(join(audited, "checkpoint_best_at_decision.pth"), "0.9");
    // Its Dice is the number in checkpoint_best.pth: which checkpoint was validated shows.
    const byCheckpoint = join(root, "fake-train-by-checkpoint");
    writeFileSync(
      byCheckpoint,
      `#!/usr/bin/env python3
import json, os, sys
fold = sys.argv[1]
d = float(open(os.path.join(fold, "checkpoint_best.pth")).read())
os.makedirs(os.path.join(fold, "validation"), exist_ok=True)
json.dump({"foreground_mean": {"Dice": d}, "mean": {"1": {"Dice": d + 0.01}, "2": {"Dice": d - 0.01}}}, open(os.path.join(fold, "validation", "summary.json"), "w"))
`,
    );
    chmodSync(byCheckpoint, 0o755);
    // A leftover of a pod killed mid-swap is put back before anything else.
    writeFileSync(join(audited, ".checkpoint_best_at_end.pth"), "0.93");
    writeFileSync(join(audited, "checkpoint_best.pth"), "0.9");
    const r = py(VALIDATE_PY, [audited, "best", byCheckpoint, audited, "--val", "--val_best"], {
      TERMINATION_MESSAGE_PATH: term,
    });
    assert.equal(r.status, 0, r.stderr);
    const message = ValidationMessage.parse(JSON.parse(readFileSync(term, "utf8")));
    assert.deepEqual(message, {
      schemaVersion: 1,
      checkpoint: "best",
      meanDice: 0.93,
      perClassDice: [0.94, 0.92],
      atDecision: { meanDice: 0.9, perClassDice: [0.91, 0.89] },
    });
    assert.equal(readFileSync(join(audited, "checkpoint_best.pth"), "utf8"), "0.93");
    assert.equal(existsSync(join(audited, ".checkpoint_best_at_end.pth")), false);
    assert.equal(
      JSON.parse(readFileSync(join(audited, "validation", "summary.json"), "utf8")).foreground_mean.Dice,
      0.93,
    );
    assert.equal(
      JSON.parse(readFileSync(join(audited, "validation_at_decision", "summary.json"), "utf8")).foreground_mean.Dice,
      0.9,
    );
  });

  it("passes nnU-Net's failing exit code through and writes no result", () => {
    rmSync(term, { force: true });
    const r = py(VALIDATE_PY, [fold, "final", fake, fold], { TERMINATION_MESSAGE_PATH: term, FAIL: "3" });
    assert.equal(r.status, 3);
    assert.equal(existsSync(term), false);
  });
});
