import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ANNOTATION_ATTEMPT, ANNOTATION_STALL_REPORT, type FoldStatus, type StallReport } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { at, FakeClock, iso, JobBuilder, makeJob, makeNode, makePod, makeRun, PodBuilder } from "../../testing/builders.js";
import { Sim } from "../../testing/sim.js";
import { type FoldInput, decideFold } from "./folds.js";
import { ANNOTATION_BATCH_SIZE } from "./objects.js";
import { decideSchedule } from "./schedule.js";
import { assertFoldDecision, type FoldCase, previousFold } from "../../testing/fold-cases.js";

// A stall report on the fold's Job (the early-stop controller's, services/early-stop README)
// through the fold's failure path: a failed attempt with reason Stalled, restarted at once
// (the stall limit was the wait, and the hung pod holds a GPU) as the next attempt within
// spec.maxRestarts; another attempt's report ignored; a stop decision winning over it. The
// report is detected at 900 s; the restart backoff of other failures is 10 s.

const config = parseOperatorConfig("restartBackoff: { initialSeconds: 10, maxSeconds: 300 }");
const run = makeRun().build();
const calibrated = { ready: true, batchSize: 8, ladder: [6, 4, 2], schedule: decideSchedule(run, 8, 2) };

const stallReport = (over: Partial<StallReport> = {}): string =>
  JSON.stringify({ schemaVersion: 1, lastEpoch: 41, attempt: 0, detectedAt: iso(900), secondsSinceLastEpoch: 612, limitSeconds: 500, ...over });
const trainJob = (attempt = 0): JobBuilder => makeJob("liver-fold-0").of("liver", "train", "0").annotate(ANNOTATION_ATTEMPT, String(attempt)).annotate(ANNOTATION_BATCH_SIZE, "8").gpus(1);
const stalledJob = (attempt = 0, report: Partial<StallReport> = {}): JobBuilder => trainJob(attempt).annotate(ANNOTATION_STALL_REPORT, stallReport({ attempt, ...report }));
const trainPod = (): PodBuilder => makePod("liver-fold-0-abcde").of("liver", "train", "0").gpus(1).on("gpu-1");
const traceback = "Traceback (most recent call last):\nRuntimeError: Expected 3 channels, got 1";

function input(over: Partial<FoldInput> = {}): FoldInput {
  return { run, config, fold: "0", job: undefined, pods: [], validateJob: undefined, validatePods: [], previous: undefined, calibration: calibrated, admitted: { train: false, validate: false }, progress: undefined, now: at(905), ...over };
}
const prev = previousFold;

const cases: FoldCase[] = [
  {
    name: "a stall report on the running attempt's Job deletes it with its hung pod at once and records the next attempt, to resume from checkpoint_latest",
    input: { job: stalledJob().active().build(), pods: [trainPod().running(100).build()] },
    phase: "Restarting",
    reason: "Stalled",
    attempt: 1,
    actions: ["DeleteTrainingJob"],
    message: /^training stalled: no epoch for 612s after epoch 41 \(limit 500s, reported by the early-stop controller\); resuming from checkpoint_latest\.pth as attempt 1$/,
  },
  {
    name: "a later attempt's stall is restarted at once too: no backoff on top of the stall limit",
    input: { job: stalledJob(2).active().build(), pods: [trainPod().running(100).build()], now: at(901) },
    phase: "Restarting",
    attempt: 3,
    actions: ["DeleteTrainingJob"],
  },
  {
    name: "a stall report of an older attempt is ignored, and said so, while the new attempt trains",
    input: { job: trainJob(1).annotate(ANNOTATION_STALL_REPORT, stallReport({ attempt: 0 })).active().build(), pods: [trainPod().running(100).build()] },
    phase: "Training",
    reason: "Running",
    attempt: 1,
    actions: [],
    message: /attempt 1 running on gpu-1; ignoring the Job's stall report of attempt 0$/,
  },
  {
    name: "an unreadable stall report restarts nothing and is said so",
    input: { job: trainJob().annotate(ANNOTATION_STALL_REPORT, "{oops").active().build(), pods: [trainPod().running(100).build()] },
    phase: "Training",
    reason: "Running",
    message: /ignoring the Job's unreadable stall report: not JSON/,
  },
  {
    name: "a stop decision wins over a stall report: the fold stops, it is not restarted",
    input: { job: stalledJob().stopDecision().build(), pods: [trainPod().running(100).build()] },
    phase: "Training",
    reason: "Stopping",
    actions: [],
  },
  {
    name: "a stop decision wins over a stall report once the pod is gone too: Converged",
    input: { job: stalledJob().stopDecision().build(), pods: [trainPod().running(100).failed(143, { finishSeconds: 910 }).build()], admitted: { train: false, validate: false } },
    phase: "Converged",
    reason: "EarlyStopped",
    actions: [],
    wants: "validate",
  },
  {
    name: "a completed Job with a stall report is Completed, not restarted",
    input: { job: stalledJob().complete(950).build(), pods: [trainPod().running(100).succeeded(950).build()] },
    phase: "Completed",
    actions: [],
    wants: "validate",
  },
  {
    name: "a stall report while the pod is not scheduled yet restarts nothing",
    input: { job: stalledJob().active().build(), pods: [] },
    phase: "Training",
    reason: "Starting",
  },
  {
    name: "a stalled pod that then ends killed (no cause of its own) counts as the stall",
    input: { job: stalledJob().failed(903).build(), pods: [trainPod().running(100).failed(143, { finishSeconds: 903 }).build()] },
    phase: "Restarting",
    reason: "Stalled",
    attempt: 1,
  },
  {
    name: "a stalled pod that then ends with an nnU-Net error fails as TrainerError",
    input: { job: stalledJob().failed(903).build(), pods: [trainPod().running(100).failed(1, { message: traceback, finishSeconds: 903 }).build()] },
    phase: "Failed",
    reason: "TrainerError",
  },
  {
    name: "with spec.maxRestarts used up a stall fails the fold, naming the stall, and deletes the Job so the hung pod frees its GPU",
    input: { job: stalledJob(3).active().build(), pods: [trainPod().running(100).build()] },
    phase: "Failed",
    reason: "RestartsExhausted",
    attempt: 3,
    actions: ["DeleteTrainingJob"],
    message: /^gave up after 3 restart\(s\) \(spec\.maxRestarts 3\); last failure: training stalled: no epoch for 612s after epoch 41/,
  },
  {
    name: "the exhausted fold's Job on its way out asks for nothing more, and the fold stays Failed with its reason",
    input: {
      job: stalledJob(3).active().deleting().build(),
      pods: [trainPod().running(100).failed(143, { finishSeconds: 906 }).build()],
      previous: prev({ phase: "Failed", attempt: 3, reason: "RestartsExhausted", message: "gave up after 3 restart(s) (spec.maxRestarts 3); last failure: training stalled: ..." }),
    },
    phase: "Failed",
    reason: "RestartsExhausted",
    actions: [],
    message: /last failure: training stalled/,
  },
  {
    name: "once that Job is gone the fold stays Failed, not a lost attempt",
    input: { previous: prev({ phase: "Failed", attempt: 3, reason: "RestartsExhausted", message: "last failure: training stalled" }), admitted: { train: true, validate: false } },
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
  it("is restarted at once as attempt 1 with --c, with a FoldRestarting warning naming the stall, and trains on", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Fixed", value: 4 }).build(), config, [makeNode("a").build()]);
    sim.pass(clock.now());
    sim.addPod(makePod("liver-fold-0-x").of("liver", "train", "0").gpus(1).on("a").running(10).build());
    clock.advance(60);
    assert.equal(sim.pass(clock.now()).status.folds?.[0]?.phase, "Training");

    // The early-stop controller reports the stall at 900 s.
    clock.advance(840);
    sim.setJob("liver-fold-0", (j) => ({ ...j, metadata: { ...j.metadata, annotations: { ...j.metadata?.annotations, [ANNOTATION_STALL_REPORT]: stallReport({ detectedAt: clock.now().toISOString() }) } } }));
    let plan = sim.pass(clock.now());
    assert.deepEqual([plan.status.folds?.[0]?.phase, plan.status.folds?.[0]?.reason, plan.status.folds?.[0]?.attempt], ["Restarting", "Stalled", 1], "the next attempt is in the status written with the delete");
    assert.deepEqual(plan.actions.map((a) => (a.verb === "delete" ? `${a.verb} ${a.name}` : a.verb)), ["delete liver-fold-0"], "no backoff: the hung pod gives its GPU back at once");
    const warning = plan.events.find((e) => e.reason === "FoldRestarting");
    assert.equal(warning?.type, "Warning");
    assert.match(warning?.message ?? "", /^fold 0: training stalled: no epoch for 612s after epoch 41/);

    plan = sim.pass(clock.now());
    assert.deepEqual(plan.events.filter((e) => e.reason === "FoldRestarting"), [], "one warning per restart");
    const created = plan.actions[0];
    assert.ok(created?.verb === "create");
    assert.equal(created.object.metadata?.annotations?.[ANNOTATION_ATTEMPT], "1");
    assert.equal(created.object.metadata?.annotations?.[ANNOTATION_STALL_REPORT], undefined, "the new Job starts without a report");
    assert.equal(created.object.spec?.template.spec?.containers[0]?.args?.at(-1), "--c");

    sim.addPod(makePod("liver-fold-0-y").of("liver", "train", "0").gpus(1).on("a").running(915).build());
    clock.advance(5);
    plan = sim.pass(clock.now());
    assert.deepEqual([plan.status.folds?.[0]?.phase, plan.status.folds?.[0]?.reason, plan.status.folds?.[0]?.attempt], ["Training", "Running", 1]);
  });
});
