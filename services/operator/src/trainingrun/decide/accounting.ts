import type { FoldStatus, TrainingRun, TrainingRunStatus } from "@nnunet-operator/api";
import type { CalibrationStatus } from "./calibration.js";
import { TRAINED_PHASES } from "./objects.js";
import type { FoldProgress } from "./progress.js";

// GPU accounting and the at-a-glance summary of a run: the one place the GPU-time figures
// are computed. kubectl's printer columns, the plugin, the demo and the metrics read them
// from status and never recount, so they cannot disagree.
//
// Every figure comes from the epoch times the trainer logged (EpochMetrics.epochTimeSeconds),
// never from pod wall clock: on a real cluster the two differ by start-up and data loading
// only, but on the devcluster the pods run a compressed replay whose logged epoch times are
// the recorded ones, so wall clock would count almost nothing and show a saving near 100%.

type Totals = NonNullable<TrainingRunStatus["totals"]>;
type Summary = NonNullable<TrainingRunStatus["summary"]>;

/** Whether a fold has finished training (stopped early or ran its schedule). */
export function foldFinishedTraining(fold: FoldStatus): boolean {
  return TRAINED_PHASES.has(fold.phase);
}

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
 * A fold's GPU-seconds used and planned, from its progress. used: every logged epoch time
 * (all attempts) x GPUs per fold. planned: spec maxEpochs (the stock schedule, before
 * keepSamplesConstant) at the plans' batch size x GPUs per fold. Progress lives in the
 * operator's memory and is rebuilt from the stream after a restart, so until it is, the
 * stored figures stand: used never goes down.
 */
export function withGpuFigures(
  run: TrainingRun,
  fold: FoldStatus,
  progress: FoldProgress | undefined,
  calibration: CalibrationStatus | undefined,
): FoldStatus {
  const mean = progress?.meanEpochSeconds;
  if (mean === undefined || progress === undefined) return fold;
  const gpus = run.spec.gpu.perFold;
  const used = Math.round(mean * progress.epochsTimed * gpus);
  const planned = Math.round(run.spec.schedule.maxEpochs * epochSecondsAtPlansBatch(mean, calibration) * gpus);
  return { ...fold, gpuSecondsUsed: Math.max(used, fold.gpuSecondsUsed ?? 0), gpuSecondsPlanned: planned };
}

/**
 * Sums of the folds' figures. saved counts only folds that finished training, so it only
 * ever reports realised savings; savedPercent is over those same folds.
 */
export function computeTotals(folds: readonly FoldStatus[]): Totals {
  let used = 0;
  let planned = 0;
  let timed = 0;
  let saved = 0;
  let plannedFinished = 0;
  for (const f of folds) {
    used += f.gpuSecondsUsed ?? 0;
    if (f.gpuSecondsPlanned === undefined) continue;
    planned += f.gpuSecondsPlanned;
    timed += 1;
    if (foldFinishedTraining(f)) {
      saved += Math.max(0, f.gpuSecondsPlanned - (f.gpuSecondsUsed ?? 0));
      plannedFinished += f.gpuSecondsPlanned;
    }
  }
  return {
    gpuSecondsUsed: used,
    ...(timed > 0 ? { gpuSecondsPlanned: planned } : {}),
    ...(plannedFinished > 0
      ? { gpuSecondsSaved: saved, savedPercent: Math.round((1000 * saved) / plannedFinished) / 10 }
      : {}),
  };
}

const hours = (seconds: number): number => Math.round(seconds / 360) / 10;

/**
 * The last finished epoch of the slowest and the furthest fold still training, over their
 * planned epochs: "211-339/500", or "339/500" when they agree. Epochs are numbered from 0
 * as nnU-Net logs them and as the fold rows and stop decisions show them. Once every fold
 * finished training, over all folds; folds that have not logged an epoch yet are left out
 * ("-" when none has).
 */
export function epochRange(folds: readonly FoldStatus[]): string | undefined {
  if (folds.length === 0) return undefined;
  const open = folds.filter((f) => !foldFinishedTraining(f));
  const shown = open.length > 0 ? open : folds;
  const epochs = shown.map((f) => f.epoch).filter((e): e is number => e !== undefined);
  const planned = Math.max(0, ...shown.map((f) => f.maxEpochs ?? 0));
  const lo = Math.min(...epochs);
  const hi = Math.max(...epochs);
  const range = epochs.length === 0 ? "-" : lo === hi ? String(hi) : `${lo}-${hi}`;
  return `${range}/${planned > 0 ? planned : "?"}`;
}

export function computeSummary(folds: readonly FoldStatus[], totals: Totals): Summary {
  const emas = folds.map((f) => f.bestEma).filter((e): e is number => e !== undefined);
  const epochs = epochRange(folds);
  return {
    folds: `${folds.filter(foldFinishedTraining).length}/${folds.length}`,
    ...(epochs !== undefined ? { epochs } : {}),
    ...(emas.length > 0
      ? { bestEma: Math.round((emas.reduce((a, b) => a + b, 0) / emas.length) * 10000) / 10000 }
      : {}),
    gpuHours: hours(totals.gpuSecondsUsed),
    ...(totals.gpuSecondsSaved !== undefined && totals.savedPercent !== undefined
      ? { saved: `${hours(totals.gpuSecondsSaved).toFixed(1)} (${totals.savedPercent.toFixed(1)}%)` }
      : {}),
  };
}
