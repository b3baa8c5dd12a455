import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TrainingRun } from "@nnunet-operator/api";
import {
  convergedFold,
  makeRun,
  queuedRun,
  succeededRun,
  trainingFold,
  trainingRun,
  calibration,
} from "../testing/runs.js";
import { EMPTY_PLAIN_STATE, type PlainState, plainUpdates } from "./plain.js";

// Each step feeds the runs of one moment; the lines are what a CI log would gain.
interface Step {
  runs: TrainingRun[];
  lines: string[];
}

const withFold0 = (epoch: number) =>
  makeRun(
    "r",
    {
      phase: "Training",
      calibration,
      folds: [trainingFold("0", epoch, { latestEma: 0.5, bestEma: 0.5, bestEpoch: epoch })],
    },
    { folds: [0] },
  );

const succeededLines = [
  "done: Succeeded",
  "done: calibration batch 12 (Calibrated), 41.3 samples/s, 250 epochs planned",
  "done fold 0: Validated, epoch 180/250, ema 0.8601, best 0.8610@177, stopped @180 Forecast · Dice 0.8231",
  "done fold 1: Validated, epoch 201/250, ema 0.8601, best 0.8610@198, stopped @201 Forecast · Dice 0.8302",
  "done summary: GPU-hours 9.6 used of 100.0 for the full schedule, saved 90.4 (90.4%)",
  "done summary fold 0: best EMA 0.8610 @ epoch 177, validation Dice 0.8231",
  "done summary fold 1: best EMA 0.8610 @ epoch 198, validation Dice 0.8302",
];

const withStatus = (run: TrainingRun, status: Partial<NonNullable<TrainingRun["status"]>>): TrainingRun => ({
  ...run,
  status: { ...run.status, ...status },
});

const cases: Array<{ name: string; steps: Step[] }> = [
  {
    name: "a queued run prints its phase and place once, and again only when the place changes",
    steps: [
      {
        runs: [queuedRun("q", 2)],
        lines: ["q: Queued", "q: queued #2 (NoGpuCapacity: needs 5 GPUs of NVIDIA-L40S, 0 free)"],
      },
      { runs: [queuedRun("q", 2)], lines: [] },
      { runs: [queuedRun("q", 1)], lines: ["q: queued #1 (NoGpuCapacity: needs 5 GPUs of NVIDIA-L40S, 0 free)"] },
    ],
  },
  {
    name: "a training fold prints every 5% of its schedule, not every epoch",
    steps: [
      {
        runs: [withFold0(10)],
        lines: [
          "r: Training",
          "r: calibration batch 12 (Calibrated), 41.3 samples/s, 250 epochs planned",
          "r fold 0: Training, epoch 10/250, ema 0.5000, best 0.5000@10",
        ],
      },
      { runs: [withFold0(11)], lines: [] },
      { runs: [withFold0(12)], lines: [] },
      { runs: [withFold0(13)], lines: ["r fold 0: Training, epoch 13/250, ema 0.5000, best 0.5000@13"] },
    ],
  },
  {
    name: "an early stop prints at once, with the policy",
    steps: [
      {
        runs: [withFold0(186)],
        lines: [
          "r: Training",
          "r: calibration batch 12 (Calibrated), 41.3 samples/s, 250 epochs planned",
          "r fold 0: Training, epoch 186/250, ema 0.5000, best 0.5000@186",
        ],
      },
      {
        runs: [makeRun("r", { phase: "Training", calibration, folds: [convergedFold("0", 187)] }, { folds: [0] })],
        lines: ["r fold 0: Converged, epoch 187/250, ema 0.8601, best 0.8610@184, stopped @187 Forecast"],
      },
    ],
  },
  {
    name: "a finished run prints its summary once",
    steps: [
      { runs: [succeededRun()], lines: succeededLines },
      { runs: [succeededRun()], lines: [] },
    ],
  },
  {
    name: "a finished run whose figures still move prints its summary again, so its last summary line is the current figure",
    steps: [
      { runs: [succeededRun()], lines: succeededLines },
      {
        runs: [
          withStatus(succeededRun(), {
            totals: { gpuSecondsUsed: 34830, gpuSecondsPlanned: 360000, gpuSecondsSaved: 325170, savedPercent: 90.3 },
            summary: { folds: "2/2", epochs: "180-201/250", bestEma: 0.861, gpuHours: 9.7, saved: "90.3 (90.3%)" },
          }),
        ],
        lines: [
          "done summary: GPU-hours 9.7 used of 100.0 for the full schedule, saved 90.3 (90.3%)",
          "done summary fold 0: best EMA 0.8610 @ epoch 177, validation Dice 0.8231",
          "done summary fold 1: best EMA 0.8610 @ epoch 198, validation Dice 0.8302",
        ],
      },
    ],
  },
  {
    name: "a run that appears next to a known one prints only its own lines",
    steps: [
      {
        runs: [trainingRun()],
        lines: [
          "topcow-ctamra: Training",
          "topcow-ctamra: calibration batch 12 (Calibrated), 41.3 samples/s, 250 epochs planned",
          "topcow-ctamra fold 0: Training, epoch 120/250, ema 0.8123, best 0.8150@118, predicted end 2026-01-01T15:15:00.000Z",
          "topcow-ctamra fold 1: Converged, epoch 187/250, ema 0.8601, best 0.8610@184, stopped @187 Forecast",
          "topcow-ctamra fold 2: Queued, epoch -/250, ema -",
        ],
      },
      {
        runs: [trainingRun(), queuedRun("late")],
        lines: ["late: Queued", "late: queued #1 (NoGpuCapacity: needs 5 GPUs of NVIDIA-L40S, 0 free)"],
      },
    ],
  },
];

describe("plainUpdates", () => {
  for (const c of cases) {
    it(c.name, () => {
      let state: PlainState = EMPTY_PLAIN_STATE;
      c.steps.forEach((step, i) => {
        const update = plainUpdates(state, step.runs);
        assert.deepEqual(update.lines, step.lines, `step ${i}`);
        for (const line of update.lines) assert.ok(!line.includes("\x1b"), "plain lines carry no escape codes");
        state = update.state;
      });
    });
  }
});
