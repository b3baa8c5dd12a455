import type { FoldStatus, TrainingRun, TrainingRunStatus } from "@nnunet-operator/api";
import type { CalibrationStatus } from "./calibration.js";
import { TRAINED_PHASES } from "./objects.js";
import type { FoldProgress } from "./progress.js";

// GPU accounting and the one-line summary of a run, for the printer columns and the
// "GPU-hours saved" the project exists for.

type Totals = NonNullable<TrainingRunStatus["totals"]>;
type Summary = NonNullable<TrainingRunStatus["summary"]>;


/**
 * Seconds one epoch would take at the plans' batch size, from the measured epoch time at
 * the batch size in use. An nnU-Net epoch is a fixed number of iterations, so its time
 * scales with batch / samples-per-second; the calibration probes measured both sizes.
 * Without both probes the measured time stands in, which understates the saving.
 */
export function epochSecondsAtPlansBatch(measured: number, calibration: CalibrationStatus | undefined): number {
  const b = calibration?.batchSize;
  const p = calibration?.plansBatchSize;
  const at = (size: number | undefined) => calibration?.probes?.find((x) => x.batchSize === size)?.samplesPerSecond;
  const spsB = at(b);
  const spsP = at(p);
  if (!b || !p || !spsB || !spsP) return measured;
  return measured * (p / spsP / (b / spsB));
}

/**
 * used: every GPU-second of the run's pods (training, calibration, validation).
 * planned: per fold with a measured epoch time, the full stock schedule (spec maxEpochs at
 * the plans' batch size) times GPUs per fold. saved: planned minus the training GPU-seconds
 * of the folds that have finished training, so it only ever counts realised savings.
 */
export function computeTotals(run: TrainingRun, folds: readonly FoldStatus[], progress: ReadonlyMap<string, FoldProgress>, calibration: CalibrationStatus | undefined, otherGpuSeconds: number): Totals {
  const used = folds.reduce((s, f) => s + (f.gpuSeconds ?? 0), 0) + otherGpuSeconds;
  let planned = 0;
  let saved = 0;
  let timed = 0;
  let finished = 0;
  for (const f of folds) {
    const measured = progress.get(f.fold)?.meanEpochSeconds;
    if (measured === undefined) continue;
    const plannedFold = run.spec.schedule.maxEpochs * epochSecondsAtPlansBatch(measured, calibration) * run.spec.gpu.perFold;
    planned += plannedFold;
    timed += 1;
    if (TRAINED_PHASES.has(f.phase)) {
      saved += Math.max(0, plannedFold - (f.gpuSeconds ?? 0));
      finished += 1;
    }
  }
  return {
    gpuSecondsUsed: Math.round(used),
    ...(timed > 0 ? { gpuSecondsPlanned: Math.round(planned) } : {}),
    ...(finished > 0 ? { gpuSecondsSaved: Math.round(saved) } : {}),
  };
}

export function computeSummary(folds: readonly FoldStatus[], totals: Totals): Summary {
  const done = folds.reduce((s, f) => s + (f.epoch !== undefined ? f.epoch + 1 : 0), 0);
  const planned = folds.reduce((s, f) => s + (f.maxEpochs ?? 0), 0);
  const emas = folds.map((f) => f.bestEma).filter((e): e is number => e !== undefined);
  return {
    epochs: `${done}/${planned}`,
    ...(emas.length > 0 ? { bestEma: Math.round((emas.reduce((a, b) => a + b, 0) / emas.length) * 10000) / 10000 } : {}),
    gpuHours: Math.round((totals.gpuSecondsUsed / 3600) * 100) / 100,
  };
}
