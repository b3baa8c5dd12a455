import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ANNOTATION_ATTEMPT } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import {
  at,
  FakeClock,
  iso,
  type JobBuilder,
  makeJob,
  makeNode,
  makePod,
  makeRun,
  type PodBuilder,
} from "../../testing/builders.js";
import { Sim } from "../../testing/sim.js";
import { type FoldInput, decideFold } from "./folds.js";
import { ANNOTATION_BATCH_SIZE } from "./objects.js";
import type { FoldProgress } from "./progress.js";
import { decideSchedule } from "./schedule.js";
import type { HeartbeatSeen } from "./stall.js";
import { assertFoldDecision, type FoldCase, previousFold } from "../../testing/fold-cases.js";

// Stall detection in the operator (decide/stall.ts) through the fold's failure path. The
// fold's epochs take 100 s; its last epoch, 41, arrived at 300 s; stallAfterEpochTimes is 5,
// so its stall deadline is 800 s. Past it, only a heartbeat of the reporter received after
// the deadline that shows the log has not moved makes it a stall, restarted at once (the
// limit was the wait, and the hung pod holds a GPU) as the next attempt within
// spec.maxRestarts. No heartbeat, a heartbeat with a newer epoch, or the operator's own NATS
// feed down or freshly reconnected: a lost stream, never a stall.

const config = parseOperatorConfig("restartBackoff: { initialSeconds: 10, maxSeconds: 300 }");
const firstEpochLimit = (seconds: number) =>
  parseOperatorConfig(
    `restartBackoff: { initialSeconds: 10, maxSeconds: 300 }\nstartTimeouts: { firstEpochSeconds: ${seconds} }`,
  );
const run = makeRun().build();
const calibrated = { ready: true, batchSize: 8, ladder: [6, 4, 2], schedule: decideSchedule(run, 8, 2) };

const progress = (over: Partial<FoldProgress> = {}): FoldProgress => ({
  attempt: 0,
  epoch: 41,
  epochsTimed: 42,
  meanEpochSeconds: 100,
  recentEpochSeconds: Array(20).fill(100),
  observedAt: iso(300),
  ...over,
});
const beat = (receivedAt: number, over: Partial<HeartbeatSeen> = {}): HeartbeatSeen => ({
  attempt: 0,
  lastEpoch: 41,
  receivedAt: iso(receivedAt),
  ...over,
});
const trainJob = (attempt = 0): JobBuilder =>
  makeJob("liver-fold-0")
    .of("liver", "train", "0")
    .annotate(ANNOTATION_ATTEMPT, String(attempt))
    .annotate(ANNOTATION_BATCH_SIZE, "8")
    .gpus(1);
const stalledJob = trainJob;
const trainPod = (): PodBuilder => makePod("liver-fold-0-abcde").of("liver", "train", "0").gpus(1).on("gpu-1");
const traceback = "Traceback (most recent call last):\nRuntimeError: Expected 3 channels, got 1";
/** A running attempt 0, quiet since epoch 41 at 300 s, confirmed hung by a heartbeat at 850 s. */
const hung = (over: Partial<FoldInput> = {}): Partial<FoldInput> => ({
  job: trainJob().active().build(),
  pods: [trainPod().running(100).build()],
  progress: progress(),
  liveness: { heartbeat: beat(850), feedSince: iso(0) },
  ...over,
});

function input(over: Partial<FoldInput> = {}): FoldInput {
  return {
    run,
    config,
    fold: "0",
    job: undefined,
    pods: [],
    validateJob: undefined,
    validatePods: [],
    previous: undefined,
    calibration: calibrated,
    admitted: { train: false, validate: false },
    progress: progress(),
    liveness: { heartbeat: beat(850), feedSince: iso(0) },
    now: at(905),
    ...over,
  };
}
const prev = previousFold;

const cases: FoldCase[] = [
  {
    name: "before its deadline a quiet fold trains on, and the reconcile is requeued for the deadline",
    input: hung({ now: at(700), liveness: { heartbeat: undefined, feedSince: iso(0) } }),
    phase: "Training",
    reason: "Running",
    actions: [],
    requeue: 100,
  },
  {
    name: "past the deadline, a heartbeat after it showing the log still at epoch 41 is a hung trainer: its Job is deleted at once and the next attempt recorded, to resume from checkpoint_latest",
    input: hung(),
    phase: "Restarting",
    reason: "Stalled",
    attempt: 1,
    actions: ["DeleteTrainingJob"],
    message:
      /^training stalled: no epoch for 605s after epoch 41 \(limit 500s, 5 median epoch times; the reporter's heartbeat confirms the log has not moved\); resuming from checkpoint_latest\.pth as attempt 1$/,
  },
  {
    name: "past the deadline without any heartbeat since, the stream is lost: not a stall, looked at again in 30 s",
    input: hung({ liveness: { heartbeat: undefined, feedSince: iso(0) } }),
    phase: "Training",
    reason: "StreamLost",
    actions: [],
    requeue: 30,
    message:
      /no epoch for 605s after epoch 41 \(limit 500s\) and no heartbeat of the reporter since: the fold's stream is lost, not judged stalled$/,
  },
  {
    name: "a heartbeat from before the deadline confirms nothing",
    input: hung({ liveness: { heartbeat: beat(790), feedSince: iso(0) } }),
    phase: "Training",
    reason: "StreamLost",
    actions: [],
    requeue: 30,
  },
  {
    name: "a heartbeat that sees a newer epoch means the trainer moves and its epochs are lost on the way: not a stall",
    input: hung({ liveness: { heartbeat: beat(850, { lastEpoch: 47 }), feedSince: iso(0) } }),
    phase: "Training",
    reason: "StreamLost",
    actions: [],
    requeue: 30,
    message:
      /the reporter sees epoch 47 but no epoch after epoch 41 arrived for 605s: its epochs are lost on the way, the trainer is not stalled/,
  },
  {
    name: "while the operator's own NATS feed is down nothing is judged, whatever the heartbeats said before",
    input: hung({ liveness: { heartbeat: beat(850), feedSince: undefined } }),
    phase: "Training",
    reason: "Running",
    actions: [],
  },
  {
    name: "after a NATS outage the quiet time counts from the reconnect: no stall until a full limit later",
    input: hung({ liveness: { heartbeat: beat(850), feedSince: iso(600) } }),
    phase: "Training",
    reason: "Running",
    actions: [],
    requeue: 195,
  },
  {
    name: "a heartbeat of the previous attempt confirms nothing about the new one",
    input: hung({
      job: trainJob(1).active().build(),
      now: at(905),
      previous: prev({ attempt: 1 }),
      progress: progress({ attempt: 1 }),
    }),
    phase: "Training",
    reason: "StreamLost",
    attempt: 1,
    actions: [],
    requeue: 30,
  },
  {
    name: "with the first-epoch limit off, a restarted attempt that hangs before its first epoch is judged from its pod's start, with the epoch times of the attempts before",
    input: hung({
      config: firstEpochLimit(0),
      job: trainJob(1).active().build(),
      pods: [trainPod().running(300).build()],
      previous: prev({ attempt: 1 }),
      liveness: { heartbeat: { attempt: 1, receivedAt: iso(850) }, feedSince: iso(0) },
    }),
    phase: "Restarting",
    reason: "Stalled",
    attempt: 2,
    actions: ["DeleteTrainingJob"],
    message: /^training stalled: no epoch for 605s since attempt 1 started \(limit 500s/,
  },
  {
    name: "a restarted attempt before its first epoch is held to the first-epoch limit where that is longer than the stall limit: past it, confirmed hung, it is restarted as FirstEpochTimeout",
    input: hung({
      config: firstEpochLimit(600),
      job: trainJob(1).active().build(),
      pods: [trainPod().running(300).build()],
      previous: prev({ attempt: 1 }),
      liveness: { heartbeat: { attempt: 1, receivedAt: iso(903) }, feedSince: iso(0) },
    }),
    phase: "Restarting",
    reason: "FirstEpochTimeout",
    attempt: 2,
    actions: ["DeleteTrainingJob"],
    message:
      /^FirstEpochTimeout: no first epoch for 600 s since attempt 1 started \(operator startTimeouts\.firstEpochSeconds; the reporter's heartbeat confirms the log has not moved\); resuming from checkpoint_latest\.pth as attempt 2$/,
  },
  {
    name: "the same attempt within its first-epoch limit trains on, and the reconcile comes back at the limit",
    input: hung({
      config: firstEpochLimit(600),
      job: trainJob(1).active().build(),
      pods: [trainPod().running(300).build()],
      previous: prev({ attempt: 1 }),
      liveness: { heartbeat: { attempt: 1, receivedAt: iso(850) }, feedSince: iso(0) },
      now: at(850),
    }),
    phase: "Training",
    reason: "Running",
    actions: [],
    requeue: 50,
  },
  {
    name: "without any epoch time yet only the first-epoch limit judges: within it the fold trains on, requeued for it",
    input: hung({ progress: undefined }),
    phase: "Training",
    reason: "Running",
    actions: [],
    requeue: 995,
  },
  {
    name: "without any epoch time yet and the first-epoch limit off there is no limit to judge by",
    input: hung({ config: firstEpochLimit(0), progress: undefined }),
    phase: "Training",
    reason: "Running",
    actions: [],
  },
  {
    name: "after the schedule's last epoch nnU-Net validates without logging epochs: not a stall",
    input: hung({
      progress: progress({ epoch: calibrated.schedule.effectiveMaxEpochs - 1 }),
      liveness: { heartbeat: beat(850, { lastEpoch: calibrated.schedule.effectiveMaxEpochs - 1 }), feedSince: iso(0) },
    }),
    phase: "Training",
    reason: "Running",
    actions: [],
  },
  {
    name: "a stop decision wins over a stall: the fold stops, it is not restarted",
    input: hung({ job: stalledJob().stopDecision().build() }),
    phase: "Training",
    reason: "Stopping",
    actions: [],
  },
  {
    name: "a stop decision wins over a stall once the pod is gone too: Converged",
    input: hung({
      job: stalledJob().stopDecision().build(),
      pods: [trainPod().running(100).failed(143, { finishSeconds: 910 }).build()],
    }),
    phase: "Converged",
    reason: "EarlyStopped",
    actions: [],
    wants: "validate",
  },
  {
    name: "a completed Job is Completed, not restarted",
    input: hung({ job: stalledJob().complete(950).build(), pods: [trainPod().running(100).succeeded(950).build()] }),
    phase: "Completed",
    actions: [],
    wants: "validate",
  },
  {
    name: "a pod not scheduled yet restarts nothing",
    input: hung({ pods: [] }),
    phase: "Training",
    reason: "Starting",
  },
  {
    name: "a quiet pod that ends with an nnU-Net error fails as TrainerError, not as a stall",
    input: hung({
      job: stalledJob().failed(903).build(),
      pods: [trainPod().running(100).failed(1, { message: traceback, finishSeconds: 903 }).build()],
    }),
    phase: "Failed",
    reason: "TrainerError",
  },
  {
    name: "with spec.maxRestarts used up a stall fails the fold, naming the stall, and deletes the Job so the hung pod frees its GPU",
    input: hung({
      job: stalledJob(3).active().build(),
      previous: prev({ attempt: 3 }),
      progress: progress({ attempt: 3 }),
      liveness: { heartbeat: beat(850, { attempt: 3 }), feedSince: iso(0) },
    }),
    phase: "Failed",
    reason: "RestartsExhausted",
    attempt: 3,
    actions: ["DeleteTrainingJob"],
    message:
      /^gave up after 3 restart\(s\) \(spec\.maxRestarts 3\); last failure: training stalled: no epoch for 605s after epoch 41/,
  },
  {
    name: "the exhausted fold's Job on its way out asks for nothing more, and the fold stays Failed with its reason",
    input: {
      job: stalledJob(3).active().deleting().build(),
      pods: [trainPod().running(100).failed(143, { finishSeconds: 906 }).build()],
      previous: prev({
        phase: "Failed",
        attempt: 3,
        reason: "RestartsExhausted",
        message: "gave up after 3 restart(s) (spec.maxRestarts 3); last failure: training stalled: ...",
      }),
    },
    phase: "Failed",
    reason: "RestartsExhausted",
    actions: [],
    message: /last failure: training stalled/,
  },
  {
    name: "once that Job is gone the fold stays Failed, not a lost attempt",
    input: {
      previous: prev({
        phase: "Failed",
        attempt: 3,
        reason: "RestartsExhausted",
        message: "last failure: training stalled",
      }),
      admitted: { train: true, validate: false },
    },
    phase: "Failed",
    reason: "RestartsExhausted",
    actions: [],
  },
];

describe("a stalled fold", () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decideFold(input(c.input));
      assertFoldDecision(d, c);
    });
  }
});

describe("a stalled fold, pass by pass", () => {
  it("is restarted at once as attempt 1 with --c once a heartbeat confirms the hang, with a FoldRestarting warning naming the stall, and trains on", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Fixed", value: 4 }).build(), config, [makeNode("a").build()]);
    sim.feedSince = clock.now().toISOString();
    sim.pass(clock.now());
    sim.addPod(makePod("liver-fold-0-x").of("liver", "train", "0").gpus(1).on("a").running(10).build());
    clock.advance(300);
    sim.progress.set("0", progress({ observedAt: clock.now().toISOString() }));
    let plan = sim.pass(clock.now());
    assert.equal(plan.status.folds?.[0]?.phase, "Training");
    assert.equal(plan.requeueAfterSeconds, 500, "requeued for the stall deadline");

    // At the deadline nothing confirms a hang yet: the stream may be lost.
    clock.advance(500);
    plan = sim.pass(clock.now());
    assert.deepEqual([plan.status.folds?.[0]?.phase, plan.status.folds?.[0]?.reason], ["Training", "StreamLost"]);
    assert.deepEqual(plan.actions, []);

    // The reporter's heartbeat says the log is still at epoch 41.
    clock.advance(30);
    sim.heartbeats.set("0", { attempt: 0, lastEpoch: 41, receivedAt: clock.now().toISOString() });
    plan = sim.pass(clock.now());
    assert.deepEqual(
      [plan.status.folds?.[0]?.phase, plan.status.folds?.[0]?.reason, plan.status.folds?.[0]?.attempt],
      ["Restarting", "Stalled", 1],
      "the next attempt is in the status written with the delete",
    );
    assert.deepEqual(
      plan.actions.map((a) => (a.verb === "delete" ? `${a.verb} ${a.name}` : a.verb)),
      ["delete liver-fold-0"],
      "no backoff: the hung pod gives its GPU back at once",
    );
    const warning = plan.events.find((e) => e.reason === "FoldRestarting");
    assert.equal(warning?.type, "Warning");
    assert.match(warning?.message ?? "", /^fold 0: training stalled: no epoch for 530s after epoch 41/);

    plan = sim.pass(clock.now());
    assert.deepEqual(
      plan.events.filter((e) => e.reason === "FoldRestarting"),
      [],
      "one warning per restart",
    );
    const created = plan.actions[0];
    assert.ok(created?.verb === "create");
    assert.equal(created.object.metadata?.annotations?.[ANNOTATION_ATTEMPT], "1");
    assert.equal(created.object.spec?.template.spec?.containers[0]?.args?.at(-1), "--c");

    sim.addPod(makePod("liver-fold-0-y").of("liver", "train", "0").gpus(1).on("a").running(845).build());
    clock.advance(5);
    plan = sim.pass(clock.now());
    assert.deepEqual(
      [plan.status.folds?.[0]?.phase, plan.status.folds?.[0]?.reason, plan.status.folds?.[0]?.attempt],
      ["Training", "Running", 1],
    );
  });
});
