import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { makeRun } from "../../testing/builders.js";
import { stockTrainerFor } from "@nnunet-operator/api";
import { decideSchedule, nearestStockEpochs } from "./schedule.js";

describe("nearest stock nnU-Net epoch variant", () => {
  const table: Array<[number, number]> = [
    [1000, 1000],
    [500, 500],
    [333.3, 300],
    [250, 250],
    [200, 250], // 1.25x from 250 beats 2x from 100
    [166.7, 250], // ratio 1.5 vs 1.667
    [150, 100], // ratio 1.5 vs 1.667 the other way
    [125, 100],
    [62.5, 50],
    [7, 5], // 1.4x vs 1.43x
    [0.3, 1],
    [1500, 2000], // 1.33x vs 1.5x
    [20000, 8000],
  ];
  for (const [wanted, expected] of table) {
    it(`${wanted} epochs round to the ${expected}-epoch variant`, () =>
      assert.equal(nearestStockEpochs(wanted), expected));
  }
  it("1000 epochs is nnUNetTrainer itself, others are nnUNetTrainer_<N>epochs", () => {
    assert.equal(stockTrainerFor(1000), "nnUNetTrainer");
    assert.equal(stockTrainerFor(250), "nnUNetTrainer_250epochs");
  });
});

describe("the schedule a run trains with", () => {
  const cases: Array<{
    name: string;
    run: ReturnType<typeof makeRun>;
    batch?: number;
    plans?: number;
    trainer: string;
    epochs: number;
    scale: number;
    note?: RegExp;
  }> = [
    {
      name: "a 4x batch divides 1000 epochs by 4",
      run: makeRun(),
      batch: 8,
      plans: 2,
      trainer: "nnUNetTrainer_250epochs",
      epochs: 250,
      scale: 4,
    },
    {
      name: "a 3x batch rounds 333 epochs to the 300-epoch variant",
      run: makeRun(),
      batch: 6,
      plans: 2,
      trainer: "nnUNetTrainer_300epochs",
      epochs: 300,
      scale: 3.33,
    },
    {
      name: "an unchanged batch keeps the stock trainer",
      run: makeRun(),
      batch: 2,
      plans: 2,
      trainer: "nnUNetTrainer",
      epochs: 1000,
      scale: 1,
    },
    {
      name: "a smaller batch never lengthens the schedule",
      run: makeRun(),
      batch: 1,
      plans: 2,
      trainer: "nnUNetTrainer",
      epochs: 1000,
      scale: 1,
    },
    {
      name: "keepSamplesConstant off keeps maxEpochs",
      run: makeRun().with({ schedule: { keepSamplesConstant: false } }),
      batch: 8,
      plans: 2,
      trainer: "nnUNetTrainer",
      epochs: 1000,
      scale: 1,
    },
    {
      name: "maxEpochs 500 with the stock trainer picks the 500-epoch variant even without calibration",
      run: makeRun().with({ schedule: { maxEpochs: 500 } }),
      trainer: "nnUNetTrainer_500epochs",
      epochs: 500,
      scale: 1,
    },
    {
      name: "an unknown plans batch size leaves the schedule and says why",
      run: makeRun(),
      batch: 8,
      trainer: "nnUNetTrainer",
      epochs: 1000,
      scale: 1,
      note: /plans' batch size unknown/,
    },
    {
      name: "a custom trainer keeps its schedule and status says so",
      run: makeRun().with({ trainer: "nnUNetTrainerDA5" }),
      batch: 8,
      plans: 2,
      trainer: "nnUNetTrainerDA5",
      epochs: 1000,
      scale: 1,
      note: /not the stock nnUNetTrainer.*wanted 250 for a 4x batch/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = decideSchedule(c.run.build(), c.batch, c.plans);
      assert.equal(s.trainer, c.trainer);
      assert.equal(s.effectiveMaxEpochs, c.epochs);
      assert.equal(s.epochScale, c.scale);
      if (c.note) assert.match(s.note ?? "", c.note);
      else assert.equal(s.note, undefined);
    });
  }
});
