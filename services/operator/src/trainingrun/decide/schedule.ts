import { STOCK_EPOCH_VARIANTS, STOCK_TRAINER, stockTrainerFor, type TrainingRun } from "@nnunet-operator/api";

// The training schedule nnU-Net will actually run. Stock nnU-Net has no epochs flag: the
// number of epochs is a property of the trainer class, and v2 ships variants
// nnUNetTrainer_<N>epochs for a fixed set of N (1000 is nnUNetTrainer itself); the naming
// lives in packages/api (trainer.ts), which the simulated trainer reads too.

/**
 * The stock variant nearest to `epochs`, measured as a ratio (a 5x shorter schedule is as
 * far from 1000 as 5x longer), because keeping the samples seen constant is a ratio; a tie
 * goes to the longer schedule, which never trains less than asked.
 */
export function nearestStockEpochs(epochs: number): number {
  let best: number = STOCK_EPOCH_VARIANTS[0];
  let bestDistance = Infinity;
  for (const n of STOCK_EPOCH_VARIANTS) {
    const d = Math.abs(Math.log(n / Math.max(epochs, 1e-9)));
    if (d < bestDistance - 1e-12 || (Math.abs(d - bestDistance) <= 1e-12 && n > best)) {
      best = n;
      bestDistance = d;
    }
  }
  return best;
}

export interface Schedule {
  readonly trainer: string;
  readonly effectiveMaxEpochs: number;
  /** maxEpochs / effectiveMaxEpochs; 1 when unchanged. */
  readonly epochScale: number;
  /** Set when the schedule could not follow the spec, saying why. */
  readonly note?: string;
}

/**
 * From the batch size in use and the plans' batch size: when the batch grew k-fold and
 * keepSamplesConstant is on, maxEpochs / k rounded to a stock variant. Only the stock
 * trainer can be swapped for a variant; a custom trainer keeps its own schedule and the
 * status says so.
 */
export function decideSchedule(
  run: TrainingRun,
  batchSize: number | undefined,
  plansBatchSize: number | undefined,
): Schedule {
  const { maxEpochs, keepSamplesConstant } = run.spec.schedule;
  const k =
    batchSize !== undefined && plansBatchSize !== undefined && plansBatchSize > 0 ? batchSize / plansBatchSize : 1;
  const wanted = keepSamplesConstant && k > 1 ? maxEpochs / k : maxEpochs;
  if (run.spec.trainer !== STOCK_TRAINER) {
    const note =
      wanted !== maxEpochs
        ? `schedule unchanged: spec.trainer ${run.spec.trainer} is not the stock ${STOCK_TRAINER}, so its epochs cannot be swapped for a stock variant (wanted ${Math.round(wanted)} for a ${round2(k)}x batch)`
        : `spec.trainer ${run.spec.trainer} sets its own number of epochs; maxEpochs ${maxEpochs} is used only for accounting`;
    return { trainer: run.spec.trainer, effectiveMaxEpochs: maxEpochs, epochScale: 1, note };
  }
  const epochs = nearestStockEpochs(wanted);
  const note =
    keepSamplesConstant && batchSize !== undefined && plansBatchSize === undefined && batchSize > 0
      ? "plans' batch size unknown (no calibration of these plans yet), so the schedule was not shortened"
      : undefined;
  return {
    trainer: stockTrainerFor(epochs),
    effectiveMaxEpochs: epochs,
    epochScale: round2(maxEpochs / epochs),
    ...(note ? { note } : {}),
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
