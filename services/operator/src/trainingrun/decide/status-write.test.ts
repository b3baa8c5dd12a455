import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { TrainingRunStatus } from "@nnunet-operator/api";
import { at, iso } from "../../testing/builders.js";
import { decideStatusWrite } from "./status-write.js";

const base: TrainingRunStatus = {
  phase: "Training",
  observedGeneration: 1,
  conditions: [
    {
      type: "Training",
      status: "True",
      reason: "FoldsRunning",
      message: "1 of 1 fold(s) training",
      lastTransitionTime: iso(0),
      observedGeneration: 1,
    },
  ],
  folds: [{ fold: "0", phase: "Training", attempt: 0, epoch: 10, bestEma: 0.5, gpuSecondsUsed: 100 }],
  totals: { gpuSecondsUsed: 100 },
  summary: { folds: "0/1", epochs: "10/1000", gpuHours: 0 },
};
const progressed: TrainingRunStatus = {
  ...base,
  folds: [{ ...base.folds![0]!, epoch: 11, bestEma: 0.51, gpuSecondsUsed: 190 }],
  totals: { gpuSecondsUsed: 190 },
  summary: { folds: "0/1", epochs: "11/1000", gpuHours: 0.1 },
};
const restarted: TrainingRunStatus = {
  ...progressed,
  folds: [{ ...progressed.folds![0]!, phase: "Restarting", attempt: 1 }],
};

describe("when a pass writes its status", () => {
  const table: Array<
    [
      string,
      TrainingRunStatus | undefined,
      TrainingRunStatus,
      Date | undefined,
      { write: boolean; requeueAfterSeconds?: number },
    ]
  > = [
    ["a first status is written", undefined, base, undefined, { write: true }],
    ["an unchanged status is not", base, base, at(0), { write: false }],
    [
      "progress alone waits for the interval and asks to come back",
      base,
      progressed,
      at(100),
      { write: false, requeueAfterSeconds: 10 },
    ],
    ["progress after the interval is written", base, progressed, at(60), { write: true }],
    ["a material change (a restart) is written at once", base, restarted, at(115), { write: true }],
  ];
  for (const [what, stored, next, lastWriteAt, expected] of table) {
    it(what, () =>
      assert.deepEqual(
        decideStatusWrite(stored, next, { now: at(120), lastWriteAt, minIntervalSeconds: 30 }),
        expected,
      ),
    );
  }
});
