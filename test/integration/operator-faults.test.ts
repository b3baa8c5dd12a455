// Faults through the real reconciler: a lost node resumes the fold with --c as the next
// attempt, a CUDA out-of-memory exit steps the batch size down one calibrated size, an
// nnU-Net error fails the fold with its last log lines, and a missing claim makes the run
// wait with ClaimNotFound until the claim appears, and a Job the run does not control under
// a fold's name is left alone (the fold waits with JobConflict) until it is deleted.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import {
  addClaim,
  addNode,
  argAfter,
  CALIBRATION_RESULT,
  createRun,
  type Env,
  eventually,
  finishPod,
  getJob,
  getRun,
  jobNames,
  listObjects,
  loseNode,
  nnunetArgs,
  patchStatus,
  RUN_NS,
  startEnv,
  startPod,
} from "./operator-harness.js";

let env: Env;
before(async () => {
  env = await startEnv();
  for (const n of ["gpu-a", "gpu-b", "gpu-c"]) await addNode(env.dc, n);
  await addClaim(env.dc);
  await env.startOperator();
});
after(async () => env?.stop());

const fold = (run: string, f = "0") => getRun(env.dc, run).status?.folds?.find((x: { fold: string }) => x.fold === f);
const STOP = JSON.stringify({
  schemaVersion: 1,
  epoch: 3,
  policy: "Patience",
  reason: "no improvement for 50 epochs",
  bestEpoch: 2,
  bestEma: 0.5,
  decidedAt: "2026-01-01T00:00:00.000Z",
});
const attemptOf = (job: { metadata: { annotations?: Record<string, string> } } | undefined) =>
  job?.metadata.annotations?.["nnunet-operator.io/attempt"];

describe("faults", () => {
  it("resumes a fold whose node was lost with --c as attempt 1", async () => {
    await createRun(env.dc, "lost", { folds: [0] });
    await eventually(() => getJob(env.dc, "lost-fold-0"), "the training Job");
    const pod = await startPod(env.dc, "lost-fold-0", "gpu-a");
    await loseNode(env.dc, "gpu-a", [["lost-fold-0", pod]]);
    const job = await eventually(
      () => (attemptOf(getJob(env.dc, "lost-fold-0")) === "1" ? getJob(env.dc, "lost-fold-0") : undefined),
      "the Job of attempt 1",
    );
    assert.equal(nnunetArgs(job).at(-1), "--c");
    const reporterEnv = job!.spec.template.spec.initContainers.find((c: { name: string }) => c.name === "reporter").env;
    assert.equal(reporterEnv.find((e: { name: string }) => e.name === "NNUNET_ATTEMPT").value, "1");
    assert.equal(fold("lost").attempt, 1);
    assert.notEqual(getRun(env.dc, "lost").status.phase, "Failed");
  });

  it("steps the batch size down one calibrated size after a CUDA out-of-memory exit", async () => {
    await createRun(env.dc, "oom", { folds: [0], batchSize: { mode: "Auto" } });
    await eventually(() => getJob(env.dc, "oom-calibrate"), "the calibration Job");
    const cal = await startPod(env.dc, "oom-calibrate", "gpu-b");
    await finishPod(env.dc, "oom-calibrate", cal, {
      container: "calibrate",
      exitCode: 0,
      message: JSON.stringify(CALIBRATION_RESULT),
    });
    await eventually(() => getJob(env.dc, "oom-fold-0"), "the training Job");
    assert.equal(argAfter(nnunetArgs(getJob(env.dc, "oom-fold-0")), "-p"), "nnUNetPlans_bs8");
    const pod = await startPod(env.dc, "oom-fold-0", "gpu-b");
    const log =
      "Epoch 3\nTraceback (most recent call last):\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 44.52 GiB";
    await finishPod(env.dc, "oom-fold-0", pod, { exitCode: 1, message: log });
    const job = await eventually(
      () => (attemptOf(getJob(env.dc, "oom-fold-0")) === "1" ? getJob(env.dc, "oom-fold-0") : undefined),
      "the Job of attempt 1",
    );
    assert.equal(argAfter(nnunetArgs(job), "-p"), "nnUNetPlans_bs4");
    assert.equal(nnunetArgs(job).at(-1), "--c");
    assert.equal(fold("oom").batchSize, 4);
  });

  it("fails a fold whose nnU-Net exited with an error, with the last log lines in the condition", async () => {
    await createRun(env.dc, "broken", { folds: [0] });
    await eventually(() => getJob(env.dc, "broken-fold-0"), "the training Job");
    const pod = await startPod(env.dc, "broken-fold-0", "gpu-c");
    const log =
      'Traceback (most recent call last):\n  File "run_training.py", line 9\nRuntimeError: Expected all tensors to be on the same device';
    await finishPod(env.dc, "broken-fold-0", pod, { exitCode: 1, message: log });
    const status = await eventually(
      () => (getRun(env.dc, "broken").status?.phase === "Failed" ? getRun(env.dc, "broken").status : undefined),
      "phase Failed",
    );
    const failed = status.conditions.find((c: { type: string }) => c.type === "Failed");
    assert.equal(failed.status, "True");
    assert.equal(failed.reason, "TrainerError");
    assert.match(failed.message, /RuntimeError: Expected all tensors to be on the same device/);
    assert.equal(attemptOf(getJob(env.dc, "broken-fold-0")), "0", "not restarted");
  });

  it("makes a fold whose image cannot be pulled wait with ImagePullFailed naming the fix, not fail", async () => {
    await createRun(env.dc, "nopull", { folds: [0], image: "registry.example/nnunet:missing" });
    await eventually(() => getJob(env.dc, "nopull-fold-0"), "the training Job");
    const pod = await startPod(env.dc, "nopull-fold-0", "gpu-c");
    await patchStatus(env.dc, "v1", "Pod", pod, {
      phase: "Pending",
      containerStatuses: [
        {
          name: "nnunet",
          ready: false,
          restartCount: 0,
          image: "registry.example/nnunet:missing",
          imageID: "",
          state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } },
        },
      ],
    });
    const training = await eventually(
      () =>
        getRun(env.dc, "nopull").status?.conditions?.find(
          (c: { type: string; reason: string }) => c.type === "Training" && c.reason === "ImagePullFailed",
        ),
      "ImagePullFailed",
    );
    assert.match(
      training.message,
      /image registry.example\/nnunet:missing cannot be pulled \(ImagePullBackOff.*fix spec.image/,
    );
    assert.notEqual(getRun(env.dc, "nopull").status.phase, "Failed");
  });

  it("makes a run whose claim is missing wait with ClaimNotFound, and starts it once the claim exists", async () => {
    await createRun(env.dc, "noclaim", { folds: [0], storage: { claimName: "later-data" } });
    const status = await eventually(
      () =>
        getRun(env.dc, "noclaim").status?.queue?.reason === "ClaimNotFound"
          ? getRun(env.dc, "noclaim").status
          : undefined,
      "ClaimNotFound",
    );
    const admitted = status.conditions.find((c: { type: string }) => c.type === "Admitted");
    assert.equal(admitted.status, "False");
    assert.match(admitted.message, /PersistentVolumeClaim later-data not found in namespace team-a; create it/);
    assert.notEqual(status.phase, "Failed");
    assert.ok(!jobNames(env.dc).includes("noclaim-fold-0"));
    await addClaim(env.dc, "later-data");
    await eventually(() => getJob(env.dc, "noclaim-fold-0"), "the training Job once the claim exists");
  });

  it("leaves a hand-made Job under a fold's name alone, shows JobConflict, and trains the fold once it is deleted", async () => {
    // One with the run label (the informer sees it), one without (only a create meets it),
    // both finished with a stop decision the fold must not take for its own.
    const squat = (name: string, labels: Record<string, string>) =>
      env.dc.cluster.create({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: {
          name,
          namespace: RUN_NS,
          labels,
          annotations: { "nnunet-operator.io/stop-decision": STOP },
        },
        spec: {
          template: { spec: { restartPolicy: "Never", containers: [{ name: "nnunet", image: "busybox" }] } },
        },
      });
    const squatters = {
      labelled: await squat("squat-fold-0", { "nnunet-operator.io/run": "squat", "nnunet-operator.io/fold": "0" }),
      bare: await squat("bare-fold-0", {}),
    };
    for (const name of ["squat-fold-0", "bare-fold-0"])
      await patchStatus(env.dc, "batch/v1", "Job", name, {
        succeeded: 1,
        conditions: [{ type: "Complete", status: "True", lastTransitionTime: new Date().toISOString() }],
      });
    // Every write to them from here on, until the test deletes them itself.
    const jobs = env.dc.cluster.resourceFor("batch/v1", "Job");
    const touched: string[] = [];
    const unwatch = env.dc.cluster.watch(
      jobs,
      (e) => {
        if (["squat-fold-0", "bare-fold-0"].includes(e.object.metadata.name ?? ""))
          touched.push(`${e.type} ${e.object.metadata.name}`);
      },
      { namespace: RUN_NS },
    );
    for (const run of ["squat", "bare"]) await createRun(env.dc, run, { folds: [0] });

    for (const [run, job] of [
      ["squat", squatters.labelled],
      ["bare", squatters.bare],
    ] as const) {
      const uid = getRun(env.dc, run).metadata.uid;
      const conflict = await eventually(
        () =>
          getRun(env.dc, run).status?.conditions?.find(
            (c: { type: string; status: string }) => c.type === "JobConflict" && c.status === "True",
          ),
        `JobConflict on ${run}`,
      );
      assert.equal(conflict.reason, "JobNameTaken");
      assert.equal(
        conflict.message,
        `Job team-a/${run}-fold-0 exists and is not controlled by TrainingRun ${run} (uid ${uid}); delete it or rename the run`,
      );
      assert.deepEqual(
        { phase: fold(run).phase, reason: fold(run).reason, stopDecision: fold(run).stopDecision },
        { phase: "Queued", reason: "JobNameTaken", stopDecision: undefined },
        "the foreign Job's status is not the fold's",
      );
      const there = getJob(env.dc, `${run}-fold-0`);
      assert.equal(there?.metadata.uid, job.metadata.uid, "not deleted");
      assert.equal(there?.metadata.ownerReferences, undefined, "not adopted");
    }
    const warning = await eventually(
      () =>
        (
          listObjects(env.dc, "events.k8s.io/v1", "Event") as Array<{
            reason?: string;
            type?: string;
            message?: string;
          }>
        )
          .filter((e) => e.reason === "JobNameTaken")
          .find((e) => e.message?.includes("squat-fold-0")),
      "a JobNameTaken event",
    );
    assert.equal(warning.type, "Warning");

    unwatch();
    assert.deepEqual(touched, [], "neither Job written to, adopted or deleted");
    for (const name of ["squat-fold-0", "bare-fold-0"]) await env.dc.cluster.delete(jobs, RUN_NS, name);
    for (const run of ["squat", "bare"]) {
      const uid = getRun(env.dc, run).metadata.uid;
      const own = await eventually(
        () => getJob(env.dc, `${run}-fold-0`)?.metadata.ownerReferences?.find((r) => r.controller && r.uid === uid),
        `${run}'s own Job once the hand-made one is gone`,
      );
      assert.equal(own.kind, "TrainingRun");
      await startPod(env.dc, `${run}-fold-0`, run === "squat" ? "gpu-b" : "gpu-c");
      await eventually(() => fold(run).phase === "Training", `fold 0 of ${run} training`);
      const conflict = getRun(env.dc, run).status.conditions.find((c: { type: string }) => c.type === "JobConflict");
      assert.equal(conflict.status, "False");
    }
  });
});
