import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ANNOTATION_ATTEMPT, type FoldStatus, type StopDecision } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { at, makeJob, makePod, makeRun } from "../../testing/builders.js";
import { computeFoldAudit, computeRunAudit } from "./audit.js";
import { decideFold, type FoldInput } from "./folds.js";
import { type FoldProgress, RECENT_EPOCH_TIMES } from "./progress.js";
import { decideSchedule } from "./schedule.js";

// Audited folds: the would-be decision on the Job stops nothing; once the fold has trained
// its schedule its status says what the stop would have cost and saved.

const decision: StopDecision = {
  schemaVersion: 1,
  epoch: 180,
  policy: "Forecast",
  reason: "r",
  bestEpoch: 172,
  bestEma: 0.91,
  decidedAt: at(500).toISOString(),
  mode: "Audit",
  trainedSeconds: 18100,
};
// 250 epochs of 100 s: 25,000 s of training, 18,100 of them up to epoch 180.
const ended: FoldProgress = {
  attempt: 0,
  epoch: 249,
  latestEma: 0.913,
  bestEma: 0.9135,
  bestEpoch: 231,
  meanEpochSeconds: 100,
  recentEpochSeconds: Array(RECENT_EPOCH_TIMES).fill(100),
  epochsTimed: 250,
  observedAt: at(25_000).toISOString(),
};

describe("what an audited stop would have cost and saved", () => {
  const cases: Array<{ name: string; progress: FoldProgress | undefined; gpus: number; ended: boolean; want: object }> =
    [
      {
        name: "while the fold trains, only the would-be stop",
        progress: { ...ended, epoch: 200 },
        gpus: 1,
        ended: false,
        want: { stopEpoch: 180, policy: "Forecast", bestEmaAtStop: 0.91 },
      },
      {
        name: "at the end: the best EMA the rest added, the epochs and GPU-seconds after the stop",
        progress: ended,
        gpus: 1,
        ended: true,
        want: {
          stopEpoch: 180,
          policy: "Forecast",
          bestEmaAtStop: 0.91,
          bestEmaLost: 0.0035,
          epochsSaved: 69,
          gpuSecondsSaved: 6900,
        },
      },
      {
        name: "GPU-seconds count every GPU of the fold",
        progress: ended,
        gpus: 2,
        ended: true,
        want: {
          stopEpoch: 180,
          policy: "Forecast",
          bestEmaAtStop: 0.91,
          bestEmaLost: 0.0035,
          epochsSaved: 69,
          gpuSecondsSaved: 13800,
        },
      },
      {
        name: "a best that never improved after the stop loses nothing",
        progress: { ...ended, bestEma: 0.91 },
        gpus: 1,
        ended: true,
        want: {
          stopEpoch: 180,
          policy: "Forecast",
          bestEmaAtStop: 0.91,
          bestEmaLost: 0,
          epochsSaved: 69,
          gpuSecondsSaved: 6900,
        },
      },
    ];
  for (const c of cases)
    it(c.name, () => assert.deepEqual(computeFoldAudit(decision, c.progress, c.gpus, c.ended), c.want));

  it("the run's audits together: how many, the mean loss and the total saving", () => {
    const fold = (fold: string, audit: FoldStatus["audit"]): FoldStatus => ({
      fold,
      phase: "Completed",
      attempt: 0,
      ...(audit && { audit }),
    });
    assert.deepEqual(
      computeRunAudit([
        fold("0", { stopEpoch: 1, policy: "Forecast", bestEmaLost: 0.002, epochsSaved: 10, gpuSecondsSaved: 100 }),
        fold("1", { stopEpoch: 1, policy: "Forecast", bestEmaLost: 0, epochsSaved: 5, gpuSecondsSaved: 50.5 }),
        fold("2", { stopEpoch: 1, policy: "Forecast" }),
        fold("3", undefined),
      ]),
      { folds: 2, meanBestEmaLost: 0.001, gpuSecondsSaved: 150.5 },
    );
    assert.equal(computeRunAudit([fold("0", undefined)]), undefined);
  });
});

describe("an audited fold's lifecycle", () => {
  const config = parseOperatorConfig("restartBackoff: { initialSeconds: 10, maxSeconds: 300 }");
  const run = makeRun().build();
  const calibration = { ready: true, batchSize: 8, ladder: [6, 4, 2], schedule: decideSchedule(run, 8, 2) };
  const job = () =>
    makeJob("liver-fold-0").of("liver", "train", "0").annotate(ANNOTATION_ATTEMPT, "0").gpus(1).auditDecision();
  const pod = makePod("liver-fold-0-abcde").of("liver", "train", "0").gpus(1).on("gpu-1");
  const input = (over: Partial<FoldInput>): FoldInput => ({
    run,
    config,
    fold: "0",
    job: undefined,
    pods: [],
    validateJob: undefined,
    validatePods: [],
    previous: undefined,
    calibration,
    admitted: { train: false, validate: false },
    progress: undefined,
    liveness: { heartbeat: undefined, feedSince: undefined },
    now: at(30_000),
    ...over,
  });

  it("trains on after the would-be decision, keeping it in status", () => {
    const d = decideFold(
      input({ job: job().active().build(), pods: [pod.running(400).build()], progress: { ...ended, epoch: 200 } }),
    );
    assert.equal(d.status.phase, "Training");
    assert.equal(d.status.reason, "Running");
    assert.deepEqual(d.actions, []);
    assert.equal(d.status.stopDecision?.mode, "Audit");
    assert.deepEqual(d.status.audit, { stopEpoch: 180, policy: "Forecast", bestEmaAtStop: 0.91 });
    assert.ok(d.status.predictedFinishAt, "an audited fold has an end ahead of it");
  });

  it("completes its schedule (not Converged), prices the stop, and validates as a full run would", () => {
    const d = decideFold(
      input({
        job: job().complete(25_000).build(),
        pods: [pod.succeeded(25_000).build()],
        progress: ended,
        admitted: { train: false, validate: true },
      }),
    );
    assert.equal(d.status.phase, "Completed");
    assert.deepEqual(d.status.audit, {
      stopEpoch: 180,
      policy: "Forecast",
      bestEmaAtStop: 0.91,
      bestEmaLost: 0.0035,
      epochsSaved: 69,
      gpuSecondsSaved: 6900,
    });
    assert.deepEqual(
      d.actions.map((a) => a.type),
      ["CreateValidationJob"],
    );
  });

  it("records both validations, of the checkpoint the schedule left and of the one kept at the would-be stop, and the Dice given up per class", () => {
    const message = JSON.stringify({
      schemaVersion: 1,
      checkpoint: "best",
      meanDice: 0.85,
      perClassDice: [0.9, 0.8],
      atDecision: { meanDice: 0.84, perClassDice: [0.895, 0.785] },
    });
    const d = decideFold(
      input({
        job: job().complete(25_000).build(),
        pods: [pod.succeeded(25_000).build()],
        progress: ended,
        validateJob: makeJob("liver-validate-0").of("liver", "validate", "0").complete(26_000).build(),
        validatePods: [makePod("liver-validate-0-xyz").of("liver", "validate", "0").succeeded(26_000, message).build()],
      }),
    );
    assert.equal(d.status.phase, "Validated");
    assert.equal(d.status.validation?.meanDice, 0.85);
    const v = d.status.audit?.validation;
    assert.equal(v?.atEnd?.meanDice, 0.85);
    assert.equal(v?.atDecision?.meanDice, 0.84);
    assert.equal(v?.meanDiceLost, 0.01);
    assert.deepEqual(v?.perClassDiceLost, [0.005, 0.015]);
    // And it stays once the validation Job is gone.
    const later = decideFold(input({ job: undefined, previous: d.status, progress: ended }));
    assert.deepEqual(later.status.audit?.validation, v);
  });
});
