import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STOCK_EPOCH_VARIANTS, stockTrainerEpochs, stockTrainerFor } from "./trainer.js";

describe("stock nnU-Net trainers as schedules", () => {
  const table: Array<{ name: string; trainer: string; epochs: number | undefined }> = [
    { name: "nnUNetTrainer itself trains nnU-Net's default 1000 epochs", trainer: "nnUNetTrainer", epochs: 1000 },
    { name: "a shipped variant trains the epochs in its name", trainer: "nnUNetTrainer_250epochs", epochs: 250 },
    { name: "the shortest shipped variant trains one epoch", trainer: "nnUNetTrainer_1epochs", epochs: 1 },
    {
      name: "a variant nnU-Net does not ship is not a stock schedule",
      trainer: "nnUNetTrainer_123epochs",
      epochs: undefined,
    },
    { name: "a custom trainer keeps a schedule of its own", trainer: "nnUNetTrainerSkeletonRecall", epochs: undefined },
    { name: "a name that only contains a variant is not one", trainer: "MynnUNetTrainer_250epochs", epochs: undefined },
  ];
  for (const c of table) it(c.name, () => assert.equal(stockTrainerEpochs(c.trainer), c.epochs));

  it("reads back every schedule the operator names", () => {
    for (const n of STOCK_EPOCH_VARIANTS) assert.equal(stockTrainerEpochs(stockTrainerFor(n)), n);
  });
});
