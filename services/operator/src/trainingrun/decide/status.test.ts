import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ANNOTATION_STOP_DECISION, findCondition, type TrainingRunStatus } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { at, FakeClock, iso, makeCalibrationResult, makeNode, makePod, makeRun } from "../../testing/builders.js";
import { Sim } from "../../testing/sim.js";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { NOTHING_ADMITTED } from "./admission.js";
import type { RunPlan } from "./run.js";
import { RECENT_EPOCH_TIMES } from "./progress.js";
import { computeStatus, transitionEvents } from "./status.js";

const config = parseOperatorConfig("");

/** Every object a plan would write validates as what it claims to be. */
function validateWrites(plan: RunPlan): RunPlan {
  for (const a of plan.actions) {
    if (a.verb === "create") new Job(a.object).validate();
    if (a.verb === "upsertConfigMapData") new ConfigMap(a.ifMissing).validate();
  }
  return plan;
}
const nodes = () => [makeNode("a").build(), makeNode("b").build()];
const cond = (s: TrainingRunStatus | undefined, type: string) => findCondition(s?.conditions, type);
const stop = (epoch: number, policy = "Forecast") =>
  JSON.stringify({
    schemaVersion: 1,
    epoch,
    policy,
    reason: "predicted gain below 0.002",
    bestEpoch: epoch - 5,
    bestEma: 0.9,
    decidedAt: iso(5000),
  });
const valMessage = (dice: number) =>
  JSON.stringify({ schemaVersion: 1, checkpoint: "best", meanDice: dice, perClassDice: [dice] });

describe("a run's whole lifecycle, pass by pass", () => {
  it("calibrates, trains five folds, stops them early, validates and succeeds, with conditions and events at every step", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().generation(3).build(), config, nodes());

    // Pass 1: calibration is the only work, it gets its GPU and its Job.
    let plan = validateWrites(sim.pass(clock.now()));
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.name),
      ["liver-calibrate"],
    );
    assert.equal(plan.status.phase, "Pending");
    assert.equal(cond(plan.status, "Calibrated")?.status, "Unknown");
    assert.equal(plan.status.observedGeneration, 3);
    assert.ok(plan.status.conditions?.every((c) => c.observedGeneration === 3));
    assert.ok(!plan.events.some((e) => e.reason.startsWith("Fold")), "folds that start out waiting are no news");

    // Pass 2: the calibrate Job runs.
    clock.advance(30);
    plan = validateWrites(sim.pass(clock.now()));
    assert.equal(plan.status.phase, "Calibrating");
    assert.deepEqual(plan.actions, []);

    // Pass 3: it finished: result used and cached, five training Jobs created at once.
    clock.advance(300);
    sim.setJob("liver-calibrate", (j) => ({
      ...j,
      status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] },
    }));
    sim.addPod(
      makePod("liver-calibrate-x")
        .of("liver", "calibrate")
        .gpus(1)
        .on("a")
        .running(30)
        .succeeded(330, JSON.stringify(makeCalibrationResult()))
        .build(),
    );
    plan = validateWrites(sim.pass(clock.now()));
    assert.equal(cond(plan.status, "Calibrated")?.reason, "Calibrated");
    assert.deepEqual(
      plan.actions.map((a) => (a.verb === "create" ? a.object.metadata?.name : a.verb)),
      ["upsertConfigMapData", "liver-fold-0", "liver-fold-1", "liver-fold-2", "liver-fold-3", "liver-fold-4"],
    );
    assert.equal(plan.status.calibration?.trainer, "nnUNetTrainer_250epochs");
    assert.ok(plan.events.some((e) => e.reason === "Calibrated" && e.type === "Normal"));

    // Pass 4: the fold pods run and report progress.
    clock.advance(60);
    for (let f = 0; f < 5; f++) {
      sim.addPod(
        makePod(`liver-fold-${f}-x`)
          .of("liver", "train", String(f))
          .gpus(1)
          .on(f < 4 ? "a" : "b")
          .running(400)
          .build(),
      );
      sim.progress.set(String(f), {
        attempt: 0,
        epoch: 99,
        latestEma: 0.85,
        bestEma: 0.86 + f / 100,
        bestEpoch: 97,
        meanEpochSeconds: 100,
        recentEpochSeconds: Array(RECENT_EPOCH_TIMES).fill(100),
        epochsTimed: 100,
        observedAt: clock.now().toISOString(),
      });
    }
    plan = validateWrites(sim.pass(clock.now()));
    assert.equal(plan.status.phase, "Training");
    assert.equal(cond(plan.status, "Training")?.status, "True");
    assert.equal(plan.status.summary?.epochs, "99/250");
    assert.equal(plan.status.summary?.folds, "0/5");
    assert.equal(plan.status.summary?.bestEma, 0.88);
    assert.ok(plan.events.some((e) => e.reason === "FoldTraining"));
    const trainingSince = cond(plan.status, "Training")?.lastTransitionTime;

    // Pass 5: nothing changed but time: lastTransitionTime stays, no events.
    clock.advance(600);
    plan = validateWrites(sim.pass(clock.now()));
    assert.equal(cond(plan.status, "Training")?.lastTransitionTime, trainingSince);
    assert.deepEqual(plan.events, []);

    // Pass 6: early stop on every fold, pods gone: Converged, validation Jobs created.
    clock.advance(600);
    for (let f = 0; f < 5; f++) {
      sim.setJob(`liver-fold-${f}`, (j) => ({
        ...j,
        metadata: { ...j.metadata, annotations: { ...j.metadata?.annotations, [ANNOTATION_STOP_DECISION]: stop(180) } },
        spec: { ...j.spec!, suspend: true },
        status: {},
      }));
      sim.addPod(
        makePod(`liver-fold-${f}-x`)
          .of("liver", "train", String(f))
          .gpus(1)
          .on("a")
          .running(400)
          .failed(143, { finishSeconds: 1990 })
          .build(),
      );
    }
    plan = validateWrites(sim.pass(clock.now()));
    assert.equal(plan.status.phase, "Validating");
    assert.equal(cond(plan.status, "Converged")?.reason, "EarlyStopped");
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.name),
      [0, 1, 2, 3, 4].map((f) => `liver-validate-${f}`),
    );
    assert.ok(plan.events.some((e) => e.reason === "FoldConverged"));
    assert.equal(
      plan.status.totals?.gpuSecondsUsed,
      5 * 100 * 100,
      "the logged epoch times (100 of 100 s on one GPU per fold), not the pods' clock",
    );
    assert.equal(plan.status.summary?.folds, "5/5");
    assert.ok((plan.status.totals?.gpuSecondsSaved ?? 0) > 0, "early stop saved GPU time against the full schedule");

    // Pass 7: validation results arrive: Validated, Succeeded, Ready.
    clock.advance(300);
    for (let f = 0; f < 5; f++) {
      sim.setJob(`liver-validate-${f}`, (j) => ({
        ...j,
        status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] },
      }));
      sim.addPod(
        makePod(`liver-validate-${f}-x`)
          .of("liver", "validate", String(f))
          .gpus(1)
          .on("b")
          .running(2000)
          .succeeded(2100, valMessage(0.9))
          .build(),
      );
    }
    plan = validateWrites(sim.pass(clock.now()));
    assert.equal(plan.status.phase, "Succeeded");
    assert.equal(cond(plan.status, "Ready")?.status, "True");
    assert.equal(
      plan.status.totals?.gpuSecondsUsed,
      5 * 100 * 100,
      "validation pods add nothing to the training GPU-seconds",
    );
    assert.equal(
      plan.status.totals?.savedPercent,
      Math.round((1000 * plan.status.totals!.gpuSecondsSaved!) / plan.status.totals!.gpuSecondsPlanned!) / 10,
    );
    assert.equal(cond(plan.status, "Validated")?.message, "every fold validated; mean Dice 0.9000");
    assert.equal(plan.status.folds?.[2]?.validation?.meanDice, 0.9);
    assert.ok(plan.events.some((e) => e.reason === "Succeeded"));
    assert.deepEqual(plan.actions, []);
  });

  it("a fold lost with its node is resumed as attempt 1 with --c after the backoff, status written before the Job is deleted", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Fixed", value: 4 }).build(), config, nodes());
    sim.pass(clock.now());
    sim.addPod(
      makePod("liver-fold-0-x")
        .of("liver", "train", "0")
        .gpus(1)
        .on("a")
        .running(10)
        .disrupted()
        .failed(137, { finishSeconds: 100 })
        .build(),
    );
    sim.setJob("liver-fold-0", (j) => ({
      ...j,
      status: { failed: 1, conditions: [{ type: "Failed", status: "True", lastTransitionTime: iso(100) }] },
    }));
    clock.advance(105);
    let plan = validateWrites(sim.pass(clock.now()));
    assert.equal(plan.status.folds?.[0]?.phase, "Restarting");
    assert.equal(plan.requeueAfterSeconds, 5);
    assert.ok(plan.events.some((e) => e.type === "Warning" && e.reason === "FoldRestarting"));
    clock.advance(10);
    plan = validateWrites(sim.pass(clock.now()));
    assert.equal(plan.status.folds?.[0]?.attempt, 1, "the next attempt is in the status written with the delete");
    assert.deepEqual(
      plan.actions.map((a) => a.verb),
      ["delete"],
    );
    plan = validateWrites(sim.pass(clock.now()));
    const created = plan.actions[0];
    assert.ok(created?.verb === "create");
    assert.equal(created.object.spec?.template.spec?.containers[0]?.args?.at(-1), "--c");
    assert.equal(created.object.metadata?.annotations?.["nnunet-operator.io/attempt"], "1");
  });
});

describe("level-triggered passes", () => {
  function runningSim() {
    const sim = new Sim(makeRun().folds(0, 1).batch({ mode: "Fixed", value: 4 }).build(), config, nodes());
    sim.pass(at(0));
    for (const f of ["0", "1"]) {
      sim.addPod(makePod(`liver-fold-${f}-x`).of("liver", "train", f).gpus(1).on("a").running(10).build());
      sim.progress.set(f, {
        attempt: 0,
        epoch: 40,
        latestEma: 0.7,
        bestEma: 0.71,
        bestEpoch: 39,
        epochsTimed: 41,
        meanEpochSeconds: 90,
        recentEpochSeconds: Array(RECENT_EPOCH_TIMES).fill(90),
        observedAt: iso(50),
      });
    }
    sim.pass(at(60));
    return sim;
  }

  it("a pass repeated over the same world at the same time changes nothing and creates nothing new", () => {
    const sim = runningSim();
    const before = structuredClone(sim.run.status);
    const plan = sim.pass(at(60));
    assert.deepEqual(plan.status, before);
    assert.deepEqual(plan.events, []);
    assert.deepEqual(plan.actions, []);
  });

  it("after an operator restart (no progress cache yet) the epochs and EMA of the stored status stand", () => {
    const sim = runningSim();
    sim.progress.clear();
    const plan = sim.pass(at(61));
    assert.deepEqual(
      plan.status.folds?.map((f) => [f.epoch, f.bestEma]),
      [
        [40, 0.71],
        [40, 0.71],
      ],
    );
    assert.deepEqual(plan.actions, []);
  });

  it("Jobs missing while status says Training count as lost attempts: the adapter must only reconcile from synced informers", () => {
    const sim = runningSim();
    sim.jobs = [];
    sim.pods = [];
    const plan = sim.pass(at(62));
    assert.deepEqual(
      plan.status.folds?.map((f) => [f.phase, f.attempt]),
      [
        ["Restarting", 1],
        ["Restarting", 1],
      ],
    );
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.annotations?.["nnunet-operator.io/attempt"]),
      ["1", "1"],
    );
  });
});

describe("status of waiting, failing and held runs", () => {
  it("a run whose claim is missing is Pending with Admitted=False ClaimNotFound and a Warning event", () => {
    const sim = new Sim(makeRun().build(), config, nodes());
    sim.claimExists = false;
    const plan = sim.pass(at(0));
    assert.equal(plan.status.phase, "Pending");
    assert.equal(cond(plan.status, "Admitted")?.reason, "ClaimNotFound");
    assert.deepEqual(plan.actions, []);
    assert.ok(plan.events.some((e) => e.type === "Warning" && e.reason === "ClaimNotFound"));
    assert.equal(plan.status.queue?.queuedAt, undefined, "a hold is not a wait for GPUs");
  });

  it("a run waiting for GPUs is Queued with its position, reason and the time it started waiting", () => {
    const sim = new Sim(makeRun().build(), config, [makeNode("a").build()]);
    sim.pods = [makePod("big").namespace("x").gpus(4).on("a").running().build()];
    const plan = sim.pass(at(10));
    assert.equal(plan.status.phase, "Queued");
    assert.deepEqual(
      [plan.status.queue?.position, plan.status.queue?.reason, plan.status.queue?.queuedAt],
      [1, "NoGpuCapacity", iso(10)],
    );
    assert.match(cond(plan.status, "Admitted")?.message ?? "", /^queue position 1: /);
  });

  it("a suspended run that runs nothing is Suspended with the Suspended condition", () => {
    const sim = new Sim(makeRun().suspended().build(), config, nodes());
    const plan = sim.pass(at(0));
    assert.equal(plan.status.phase, "Suspended");
    assert.equal(cond(plan.status, "Suspended")?.status, "True");
    assert.deepEqual(plan.actions, []);
  });

  it("a fold that fails for good fails the run with the fold's reason in the Failed condition", () => {
    const sim = new Sim(makeRun().folds(0, 1).batch({ mode: "Plans" }).build(), config, nodes());
    sim.pass(at(0));
    sim.addPod(
      makePod("liver-fold-1-x")
        .of("liver", "train", "1")
        .gpus(1)
        .on("a")
        .running()
        .failed(1, { message: "RuntimeError: boom" })
        .build(),
    );
    sim.setJob("liver-fold-1", (j) => ({
      ...j,
      status: { failed: 1, conditions: [{ type: "Failed", status: "True" }] },
    }));
    const plan = sim.pass(at(200));
    assert.equal(plan.status.phase, "Failed");
    assert.equal(cond(plan.status, "Failed")?.reason, "TrainerError");
    assert.match(
      cond(plan.status, "Failed")?.message ?? "",
      /^fold 1: nnU-Net exited with code 1:\nRuntimeError: boom/,
    );
    assert.ok(plan.events.some((e) => e.type === "Warning" && e.reason === "TrainerError"));
  });

  it("a run being deleted starts nothing", () => {
    const sim = new Sim(makeRun().deleting().build(), config, nodes());
    assert.deepEqual(sim.pass(at(0)).actions, []);
  });

  it("computeStatus alone recomputes the status without admission and reports calibration waiting for a GPU", () => {
    const { status } = computeStatus(
      makeRun().build(),
      {
        config,
        jobs: [],
        pods: [],
        nodes: nodes(),
        calibrationCache: undefined,
        claimExists: true,
        admission: NOTHING_ADMITTED,
        progress: new Map(),
        heartbeats: new Map(),
        feedSince: undefined,
      },
      at(0),
    );
    assert.equal(status.phase, "Pending");
    assert.equal(status.calibration?.message, "the calibration Job waits for a GPU");
    assert.equal(status.folds?.length, 5);
    assert.ok(status.folds?.every((f) => f.phase === "Pending"));
  });
});

describe("cluster defaults", () => {
  it("a run that kept the API's product label is placed with the cluster's configured label", () => {
    const cluster = parseOperatorConfig("gpu: { defaultProductLabel: gpu.example.com/model }");
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Plans" }).build(), cluster, [
      makeNode("a").product("NVIDIA-L40S", "gpu.example.com/model").build(),
    ]);
    const plan = sim.pass(at(0));
    const created = plan.actions[0];
    assert.ok(created?.verb === "create");
    const term =
      created.object.spec?.template.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        ?.nodeSelectorTerms[0];
    assert.equal(term?.matchExpressions?.[0]?.key, "gpu.example.com/model");
  });
});

describe("transition events", () => {
  it("are emitted for condition flips and fold phase changes only", () => {
    const c = (type: string, status: "True" | "False", reason: string) => ({
      type,
      status,
      reason,
      message: "m",
      lastTransitionTime: iso(0),
    });
    const before: TrainingRunStatus = {
      conditions: [c("Training", "True", "FoldsRunning")],
      folds: [{ fold: "0", phase: "Training", attempt: 0 }],
    };
    const after: TrainingRunStatus = {
      conditions: [c("Training", "True", "FoldsRunning"), c("Failed", "True", "Diverged")],
      folds: [{ fold: "0", phase: "Failed", attempt: 0, message: "nan" }],
    };
    assert.deepEqual(transitionEvents(before, after), [
      { type: "Warning", reason: "Diverged", message: "Failed=True: m" },
      { type: "Warning", reason: "FoldFailed", message: "fold 0: nan" },
    ]);
    assert.deepEqual(transitionEvents(after, after), []);
  });
});
