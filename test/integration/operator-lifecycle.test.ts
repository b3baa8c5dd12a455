// One TrainingRun's whole life through the real reconciler on the devcluster (RBAC on, the
// chart's RBAC), with a real nats-server: admission, one training Job per fold with the
// right manifest, progress from NATS epochs, a stop decision, validation, Succeeded with
// totals, events, and deletion without a finalizer (early-stop purges the run's epochs;
// early-stop-purge.test.ts); a finalizer older operators put on runs is taken off.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { ANNOTATION_STOP_DECISION, LABEL_FOLD, LABEL_ROLE, LABEL_RUN, LEGACY_FINALIZER } from "@nnunet-operator/api";
import { publishEpoch } from "@nnunet-operator/bus";
import {
  addClaim,
  addNode,
  createRun,
  type Env,
  eventually,
  finishPod,
  getJob,
  getRun,
  jobNames,
  listObjects,
  makeRunObject,
  RUN_NS,
  type RunningOperator,
  startEnv,
  startPod,
} from "./operator-harness.js";

let env: Env;
let op: RunningOperator;
before(async () => {
  env = await startEnv();
  await addNode(env.dc, "gpu-a");
  await addNode(env.dc, "gpu-b");
  await addClaim(env.dc);
  op = await env.startOperator();
});
after(async () => env?.stop());

const VALIDATION = (dice: number) =>
  JSON.stringify({ schemaVersion: 1, checkpoint: "best", meanDice: dice, perClassDice: [dice, dice] });

describe("a TrainingRun's lifecycle on the devcluster", () => {
  const pods = new Map<string, string>();

  it("gets one training Job per fold, spread over the free L40S GPUs, with the right manifest, and no finalizer", async () => {
    await createRun(env.dc, "liver", { folds: [0, 1, 2], image: "registry.example/nnunet:2.5" });
    await eventually(() => jobNames(env.dc).length === 3, "three training Jobs");
    assert.deepEqual(jobNames(env.dc), ["liver-fold-0", "liver-fold-1", "liver-fold-2"]);
    const run = getRun(env.dc, "liver");
    assert.equal(run.metadata.finalizers, undefined);
    const job = getJob(env.dc, "liver-fold-1")!;
    assert.equal(job.metadata.labels?.[LABEL_RUN], "liver");
    assert.equal(job.metadata.labels?.[LABEL_FOLD], "1");
    assert.equal(job.metadata.labels?.[LABEL_ROLE], "train");
    assert.deepEqual(
      job.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
      [["TrainingRun", "liver", run.metadata.uid, true]],
    );
    const spec = job.spec.template.spec;
    const nnunet = spec.containers.find((c: { name: string }) => c.name === "nnunet");
    assert.deepEqual(nnunet.args, [
      "Dataset003_Liver",
      "3d_fullres",
      "1",
      "-tr",
      "nnUNetTrainer",
      "-p",
      "nnUNetPlans_bs4",
      "-num_gpus",
      "1",
    ]);
    assert.equal(nnunet.image, "registry.example/nnunet:2.5");
    assert.equal(nnunet.resources.limits["nvidia.com/gpu"], "1");
    const reporter = spec.initContainers.find((c: { name: string }) => c.name === "reporter");
    assert.equal(reporter.restartPolicy, "Always");
    const foldDir = reporter.env.find((e: { name: string }) => e.name === "NNUNET_FOLD_DIR").value;
    assert.equal(foldDir, "/nnunet/results/Dataset003_Liver/nnUNetTrainer__nnUNetPlans_bs4__3d_fullres/fold_1");
    assert.equal(reporter.env.find((e: { name: string }) => e.name === "NATS_URL").value, env.nats.url);
    assert.deepEqual(
      spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]
        .matchExpressions[0],
      { key: "nvidia.com/gpu.product", operator: "In", values: ["NVIDIA-L40S"] },
    );
    await eventually(() => getRun(env.dc, "liver").status?.phase === "Training", "phase Training");
  });

  it("shows where each fold runs and its progress from the reporters' epochs on NATS", async () => {
    for (const f of ["0", "1", "2"])
      pods.set(f, await startPod(env.dc, `liver-fold-${f}`, f === "2" ? "gpu-b" : "gpu-a"));
    const uid = getRun(env.dc, "liver").metadata.uid!;
    for (let epoch = 0; epoch < 3; epoch++) {
      await publishEpoch(env.js, {
        schemaVersion: 1,
        namespace: RUN_NS,
        run: "liver",
        runUid: uid,
        fold: "0",
        attempt: 0,
        epoch,
        pseudoDice: [0.5 + epoch / 10],
        emaPseudoDice: 0.5 + epoch / 10,
        epochTimeSeconds: 100,
        observedAt: new Date().toISOString(),
      });
    }
    const folds = await eventually(() => {
      const f = getRun(env.dc, "liver").status?.folds;
      return f?.find((x: { fold: string; epoch?: number }) => x.fold === "0" && x.epoch === 2) ? f : undefined;
    }, "fold 0 at epoch 2");
    assert.equal(folds.find((f: { fold: string }) => f.fold === "2").node, "gpu-b");
    assert.equal(folds.find((f: { fold: string }) => f.fold === "0").bestEma, 0.7);
  });

  it("records a fold stopped by the early-stop controller as Converged and validates it from checkpoint_best", async () => {
    const decision = {
      schemaVersion: 1,
      epoch: 2,
      policy: "Patience",
      reason: "no improvement for 2 epochs",
      bestEpoch: 2,
      bestEma: 0.7,
      decidedAt: new Date().toISOString(),
    };
    const jobs = env.dc.cluster.resourceFor("batch/v1", "Job");
    await env.dc.cluster.registry.patch(jobs, RUN_NS, "liver-fold-0", "merge", {
      metadata: { annotations: { [ANNOTATION_STOP_DECISION]: JSON.stringify(decision) } },
      spec: { suspend: true },
    });
    // The Job controller removes the suspended Job's pod.
    await env.dc.cluster.delete(env.dc.cluster.resourceFor("v1", "Pod"), RUN_NS, pods.get("0")!, {
      gracePeriodSeconds: 0,
    });
    await eventually(() => getJob(env.dc, "liver-validate-0"), "the validation Job of fold 0");
    const fold0 = getRun(env.dc, "liver").status.folds.find((f: { fold: string }) => f.fold === "0");
    assert.ok(["Converged", "Validating"].includes(fold0.phase), fold0.phase);
    assert.equal(fold0.stopDecision.policy, "Patience");
    const args = getJob(env.dc, "liver-validate-0")!.spec.template.spec.containers[0].args as string[];
    assert.deepEqual(args.slice(-2), ["--val", "--val_best"]);
    assert.equal(args[0], "/nnunet/results/Dataset003_Liver/nnUNetTrainer__nnUNetPlans_bs4__3d_fullres/fold_0");
  });

  it("validates the folds that trained the full schedule, then the run is Succeeded with Dice and totals", async () => {
    for (const f of ["1", "2"]) await finishPod(env.dc, `liver-fold-${f}`, pods.get(f)!, { exitCode: 0 });
    await eventually(
      () => getJob(env.dc, "liver-validate-1") && getJob(env.dc, "liver-validate-2"),
      "validation Jobs of folds 1 and 2",
    );
    for (const [f, dice] of [
      ["0", 0.91],
      ["1", 0.93],
      ["2", 0.92],
    ] as const) {
      const pod = await startPod(env.dc, `liver-validate-${f}`, "gpu-b");
      await finishPod(env.dc, `liver-validate-${f}`, pod, { exitCode: 0, message: VALIDATION(dice) });
    }
    const status = await eventually(
      () => (getRun(env.dc, "liver").status?.phase === "Succeeded" ? getRun(env.dc, "liver").status : undefined),
      "phase Succeeded",
    );
    assert.deepEqual(
      status.folds.map((f: { phase: string }) => f.phase),
      ["Validated", "Validated", "Validated"],
    );
    assert.equal(status.folds[1].validation.meanDice, 0.93);
    assert.ok(status.totals.gpuSecondsUsed >= 0);
    assert.equal(status.conditions.find((c: { type: string }) => c.type === "Ready").status, "True");
    assert.ok(
      status.conditions.every(
        (c: { observedGeneration: number }) => c.observedGeneration === getRun(env.dc, "liver").metadata.generation,
      ),
    );
    assert.equal(jobNames(env.dc).length, 6, "three training and three validation Jobs, none duplicated");
  });

  it("records events on the run's transitions", async () => {
    const reasons = await eventually(() => {
      const r = listObjects(env.dc, "v1", "Event")
        .filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === "liver")
        .map((e) => String(e.reason));
      return r.includes("Succeeded") ? r : undefined;
    }, "a Succeeded event");
    for (const reason of ["FoldConverged", "FoldValidated", "EarlyStopped"])
      assert.ok(reasons.includes(reason), `${reason} in ${reasons.join(",")}`);
  });

  it("serves the run's metrics", async () => {
    op.operator.refreshGauges();
    const text = await op.operator.metrics.registry.metrics();
    assert.match(text, /nnunet_trainingruns\{phase="Succeeded"\} 1/);
    assert.match(text, /nnunet_folds\{phase="Validated"\} 3/);
    assert.match(text, /nnunet_admitted_folds_total\{queue="default"\} 3/);
    assert.match(text, /nnunet_reconcile_duration_seconds_count\{controller="trainingrun",result="success"\} \d+/);
  });

  it("on deletion lets the run go at once and its children follow", async () => {
    await env.dc.cluster.delete(
      env.dc.cluster.resourceFor("nnunet-operator.io/v1alpha1", "TrainingRun"),
      RUN_NS,
      "liver",
      {},
    );
    await eventually(() => {
      try {
        getRun(env.dc, "liver");
        return false;
      } catch {
        return true;
      }
    }, "the run to be gone");
    await eventually(() => jobNames(env.dc).length === 0, "the children collected");
  });

  it("takes the finalizer an older operator put on a run off, live or being deleted, and keeps other finalizers", async () => {
    const runs = env.dc.cluster.resourceFor("nnunet-operator.io/v1alpha1", "TrainingRun");
    for (const [name, finalizers] of [
      ["old-live", [LEGACY_FINALIZER, "example.com/keep"]],
      ["old-gone", [LEGACY_FINALIZER]],
    ] as const) {
      const object = makeRunObject(name, { folds: [0] });
      object.metadata.finalizers = [...finalizers];
      await env.dc.cluster.create(object);
    }
    await env.dc.cluster.delete(runs, RUN_NS, "old-gone", {});
    await eventually(
      () => JSON.stringify(getRun(env.dc, "old-live").metadata.finalizers) === '["example.com/keep"]',
      "the legacy finalizer removed from the live run",
    );
    await eventually(() => {
      try {
        getRun(env.dc, "old-gone");
        return false;
      } catch {
        return true;
      }
    }, "the run being deleted to be gone");
  });
});
