import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { type FoldStatus, TrainingRunStatus } from "@nnunet-operator/api";
import { iso, makeCalibrationResult, makeRun } from "../../testing/builders.js";
import { computeSummary, computeTotals, epochRange, epochSecondsAtPlansBatch, withGpuFigures } from "./accounting.js";
import type { FoldProgress } from "./progress.js";

const progress = (meanEpochSeconds: number, epochsTimed: number): FoldProgress => ({
  attempt: 0,
  epoch: epochsTimed - 1,
  meanEpochSeconds,
  epochsTimed,
  observedAt: iso(0),
});
const fold = (f: string, phase: FoldStatus["phase"], extra: Partial<FoldStatus> = {}): FoldStatus => ({
  fold: f,
  phase,
  attempt: 0,
  ...extra,
});
const calibration = { batchSize: 8, plansBatchSize: 2, probes: makeCalibrationResult().probes };

describe("a fold's GPU-seconds, from the epoch times the trainer logged", () => {
  const run = makeRun()
    .gpus(2)
    .with({ schedule: { maxEpochs: 1000 } })
    .build();
  const cases: Array<{
    name: string;
    stored: Partial<FoldStatus>;
    progress: FoldProgress | undefined;
    cal?: typeof calibration;
    used: number | undefined;
    planned: number | undefined;
  }> = [
    {
      name: "used is every logged epoch time times the fold's GPUs; planned the stock schedule at that epoch time",
      stored: {},
      progress: progress(100, 150),
      used: 30000,
      planned: 200000,
    },
    {
      name: "planned rescales the epoch time to the plans' batch size by the calibration's measured throughputs",
      stored: {},
      progress: progress(100, 150),
      cal: calibration,
      used: 30000,
      planned: Math.round(1000 * 100 * (2 / 9.1 / (8 / 20.2)) * 2),
    },
    {
      name: "before the operator has replayed the stream (a restart) the stored figures stand",
      stored: { gpuSecondsUsed: 5000, gpuSecondsPlanned: 90000 },
      progress: undefined,
      used: 5000,
      planned: 90000,
    },
    {
      name: "used never goes below what status already holds",
      stored: { gpuSecondsUsed: 40000, gpuSecondsPlanned: 90000 },
      progress: progress(100, 150),
      used: 40000,
      planned: 200000,
    },
    {
      name: "a fold with no logged epoch time yet has no figures",
      stored: {},
      progress: { attempt: 0, epoch: 0, epochsTimed: 0, observedAt: iso(0) },
      used: undefined,
      planned: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const f = withGpuFigures(run, fold("0", "Training", c.stored), c.progress, c.cal);
      assert.deepEqual([f.gpuSecondsUsed, f.gpuSecondsPlanned], [c.used, c.planned]);
    });
  }

  it("an unchanged batch size or missing probes leave the measured epoch time as it is", () => {
    assert.equal(epochSecondsAtPlansBatch(400, undefined), 400);
    assert.equal(epochSecondsAtPlansBatch(400, { batchSize: 8, plansBatchSize: 2 }), 400);
  });
});

describe("a run's GPU totals: sums of its folds, savings only where a fold finished", () => {
  const cases: Array<{ name: string; folds: FoldStatus[]; totals: ReturnType<typeof computeTotals> }> = [
    {
      name: "while every fold trains nothing is saved yet",
      folds: [
        fold("0", "Training", { gpuSecondsUsed: 3000, gpuSecondsPlanned: 100000 }),
        fold("1", "Training", { gpuSecondsUsed: 2000, gpuSecondsPlanned: 100000 }),
      ],
      totals: { gpuSecondsUsed: 5000, gpuSecondsPlanned: 200000 },
    },
    {
      name: "a fold that stopped early saves its planned minus its used, as a percentage of its own plan",
      folds: [
        fold("0", "Converged", { gpuSecondsUsed: 20000, gpuSecondsPlanned: 100000 }),
        fold("1", "Training", { gpuSecondsUsed: 10000, gpuSecondsPlanned: 100000 }),
      ],
      totals: { gpuSecondsUsed: 30000, gpuSecondsPlanned: 200000, gpuSecondsSaved: 80000, savedPercent: 80 },
    },
    {
      name: "once every fold finished the percentage is one minus used over planned",
      folds: [
        fold("0", "Validated", { gpuSecondsUsed: 20000, gpuSecondsPlanned: 100000 }),
        fold("1", "Completed", { gpuSecondsUsed: 46300, gpuSecondsPlanned: 100000 }),
      ],
      totals: { gpuSecondsUsed: 66300, gpuSecondsPlanned: 200000, gpuSecondsSaved: 133700, savedPercent: 66.9 },
    },
    {
      name: "a fold that trained past its plan saves nothing rather than a negative amount",
      folds: [fold("0", "Completed", { gpuSecondsUsed: 110000, gpuSecondsPlanned: 100000 })],
      totals: { gpuSecondsUsed: 110000, gpuSecondsPlanned: 100000, gpuSecondsSaved: 0, savedPercent: 0 },
    },
    {
      name: "a fold never timed adds what it used but no plan",
      folds: [fold("0", "Queued"), fold("1", "Training", { gpuSecondsUsed: 700 })],
      totals: { gpuSecondsUsed: 700 },
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(computeTotals(c.folds), c.totals));
});

describe("the run at a glance (the printer columns' fields)", () => {
  const training = (f: string, epoch: number | undefined, phase: FoldStatus["phase"] = "Training") =>
    fold(f, phase, { ...(epoch !== undefined ? { epoch } : {}), maxEpochs: 500 });
  const ranges: Array<{ name: string; folds: FoldStatus[]; epochs: string | undefined }> = [
    {
      name: "the slowest and the furthest fold still training, of the planned epochs",
      folds: [training("0", 211), training("1", 339), training("2", 250)],
      epochs: "211-339/500",
    },
    { name: "one number when the folds agree", folds: [training("0", 339), training("1", 339)], epochs: "339/500" },
    {
      name: "folds that finished training leave the range",
      folds: [training("0", 179, "Converged"), training("1", 339)],
      epochs: "339/500",
    },
    {
      name: "a fold still waiting is left out",
      folds: [training("0", undefined, "Queued"), training("1", 99)],
      epochs: "99/500",
    },
    { name: "a dash while no fold has logged an epoch", folds: [training("0", undefined, "Queued")], epochs: "-/500" },
    {
      name: "once all finished, over every fold",
      folds: [training("0", 179, "Validated"), training("1", 499, "Validated")],
      epochs: "179-499/500",
    },
    { name: "no folds, no range", folds: [], epochs: undefined },
  ];
  for (const c of ranges) it(`epochs: ${c.name}`, () => assert.equal(epochRange(c.folds), c.epochs));

  it("counts folds done over all, the mean best EMA, GPU-hours used and saved with the percentage", () => {
    const folds = [
      fold("0", "Converged", { epoch: 179, maxEpochs: 500, bestEma: 0.8 }),
      fold("1", "Training", { epoch: 99, maxEpochs: 500, bestEma: 0.9 }),
      fold("2", "Queued", { maxEpochs: 500 }),
    ];
    const s = computeSummary(folds, {
      gpuSecondsUsed: 66240,
      gpuSecondsPlanned: 240000,
      gpuSecondsSaved: 173520,
      savedPercent: 72.3,
    });
    assert.deepEqual(s, { folds: "1/3", epochs: "99/500", bestEma: 0.85, gpuHours: 18.4, saved: "48.2 (72.3%)" });
  });

  it("leaves saved out until a fold finished", () => {
    const s = computeSummary([fold("0", "Training", { epoch: 9, maxEpochs: 500 })], { gpuSecondsUsed: 360 });
    assert.deepEqual(s, { folds: "0/1", epochs: "9/500", gpuHours: 0.1 });
  });
});

describe("the printer-column fixture (test/fixtures/trainingruns/status)", () => {
  it("holds the totals and summary this accounting computes from its folds", () => {
    const file = resolve(
      import.meta.dirname,
      "../../../../../test/fixtures/trainingruns/status/training-five-folds.json",
    );
    const status = TrainingRunStatus.parse((JSON.parse(readFileSync(file, "utf8")) as { status: unknown }).status);
    const totals = computeTotals(status.folds ?? []);
    assert.deepEqual(totals, status.totals);
    assert.deepEqual(computeSummary(status.folds ?? [], totals), status.summary);
  });
});
