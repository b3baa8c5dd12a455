// The calibration pre-job through the real reconciler: the result read from the pod's
// termination message into status and the namespace's cache ConfigMap, a second identical
// run served from the cache without a pre-job, and a termination message that does not
// parse turned into a fallback to the plans' batch size (never a failed run).
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import {
  addClaim,
  addNode,
  CALIBRATION_RESULT,
  createRun,
  type Env,
  eventually,
  finishPod,
  getJob,
  getRun,
  listObjects,
  startEnv,
  startPod,
} from "./operator-harness.js";

let env: Env;
before(async () => {
  env = await startEnv();
  await addNode(env.dc, "gpu-a");
  await addClaim(env.dc);
  await env.startOperator();
});
after(async () => env?.stop());

const AUTO = { batchSize: { mode: "Auto" }, folds: [0] };
const arg = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe("calibration", () => {
  it("runs <run>-calibrate on one accepted GPU before any training Job", async () => {
    await createRun(env.dc, "cal-a", AUTO);
    const job = await eventually(() => getJob(env.dc, "cal-a-calibrate"), "the calibration Job");
    const c = job.spec.template.spec.containers[0];
    assert.equal(c.resources.limits["nvidia.com/gpu"], "1");
    assert.deepEqual(c.command, ["python3", "-m", "nnunet_calibrate"]);
    assert.equal(
      job.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]
        .matchExpressions[0].values[0],
      "NVIDIA-L40S",
    );
    await eventually(() => getRun(env.dc, "cal-a").status?.phase === "Calibrating", "phase Calibrating");
    assert.equal(getJob(env.dc, "cal-a-fold-0"), undefined);
  });

  it("reads the result from the termination message into status and the cache, then trains with the derived plans", async () => {
    const pod = await startPod(env.dc, "cal-a-calibrate", "gpu-a");
    await finishPod(env.dc, "cal-a-calibrate", pod, {
      container: "calibrate",
      exitCode: 0,
      message: JSON.stringify(CALIBRATION_RESULT),
    });
    const job = await eventually(() => getJob(env.dc, "cal-a-fold-0"), "the training Job");
    const cal = getRun(env.dc, "cal-a").status.calibration;
    assert.equal(cal.batchSize, 8);
    assert.equal(cal.source, "Calibrated");
    assert.equal(cal.plansBatchSize, 2);
    const args = job.spec.template.spec.containers[0].args as string[];
    assert.equal(arg(args, "-p"), "nnUNetPlans_bs8");
    assert.equal(arg(args, "-tr"), cal.trainer, "the trainer of the (possibly shortened) schedule");
    const cache = await eventually(
      () => listObjects(env.dc, "v1", "ConfigMap").find((m) => m.metadata.name === "nnunet-calibration-cache"),
      "the cache ConfigMap",
    );
    const entries = Object.values((cache as { data?: Record<string, string> }).data ?? {}).map((v) => JSON.parse(v));
    assert.equal(entries.length, 1);
    assert.equal(entries[0].result.chosenBatchSize, 8);
    assert.equal(cache.metadata.ownerReferences, undefined, "the cache outlives the run");
  });

  it("serves a second identical run from the cache: no pre-job, status says cached", async () => {
    await createRun(env.dc, "cal-b", AUTO);
    const job = await eventually(() => getJob(env.dc, "cal-b-fold-0"), "cal-b's training Job");
    assert.equal(getJob(env.dc, "cal-b-calibrate"), undefined);
    const status = getRun(env.dc, "cal-b").status;
    assert.equal(status.calibration.source, "Cached");
    assert.equal(status.conditions.find((c: { type: string }) => c.type === "Calibrated").reason, "CalibrationCached");
    assert.equal(arg(job.spec.template.spec.containers[0].args, "-p"), "nnUNetPlans_bs8");
  });

  it("falls back to the plans' batch size with Calibrated=False quoting a termination message that does not parse", async () => {
    await createRun(env.dc, "cal-c", { ...AUTO, plans: "nnUNetResEncUNetMPlans" });
    await eventually(() => getJob(env.dc, "cal-c-calibrate"), "cal-c's calibration Job");
    const pod = await startPod(env.dc, "cal-c-calibrate", "gpu-a");
    await finishPod(env.dc, "cal-c-calibrate", pod, {
      container: "calibrate",
      exitCode: 0,
      message: "Segmentation fault (core dumped)",
    });
    const job = await eventually(() => getJob(env.dc, "cal-c-fold-0"), "cal-c's training Job");
    const status = getRun(env.dc, "cal-c").status;
    const cond = status.conditions.find((c: { type: string }) => c.type === "Calibrated");
    assert.equal(cond.status, "False");
    assert.equal(cond.reason, "CalibrationFailed");
    assert.match(cond.message, /Segmentation fault \(core dumped\)/);
    assert.equal(status.calibration.source, "Fallback");
    assert.notEqual(status.phase, "Failed");
    assert.equal(arg(job.spec.template.spec.containers[0].args, "-p"), "nnUNetResEncUNetMPlans");
  });
});
