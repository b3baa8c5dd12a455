import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { EpochMetrics } from "@nnunet-operator/api";
import {
  type Curve,
  FoldState,
  forecastScoreAt,
  presetConfig,
  readCurveDir,
  replayCurve,
} from "@nnunet-operator/early-stop";
import {
  accumulateProgress,
  type FoldProgress,
  predictFoldFinish,
  recentEpochSecondsOf,
} from "@nnunet-operator/operator";

// Replays the real learning curves of test/fixtures/nnunet-logs/curves through the
// operator's own progress accumulation and finish prediction, epoch by epoch, with each
// epoch observed when its logged epoch time says it ended, and measures how far the
// predicted end is from the real one. The error is relative to the fold's whole training
// time: +0.05 means predicted 5% of the fold's duration too late.
//
// Two real ends: the end of the logged run (every curve here trained its full schedule,
// which is what the prediction assumes) and the epoch where the Forecast policy with its
// defaults would have stopped it (what an enforced run does; the operator does not predict
// that stop, so this shows what its honest default costs).

export const CURVES_DIR = fileURLToPath(new URL("../fixtures/nnunet-logs/curves", import.meta.url));

export interface CurveFinishErrors {
  readonly name: string;
  readonly maxEpochs: number;
  /** Largest |error| over every epoch from `from` of the schedule on, against each real end. */
  readonly worstToScheduleEnd: number;
  readonly worstToForecastStop: number | undefined;
  /** Every error against the schedule's end, one per epoch from `from` on. */
  readonly errors: readonly number[];
}

const T0 = Date.parse("2026-01-01T00:00:00Z");

/** The reporter's message for a curve's epoch, observed `endSeconds` after the fold began. */
function replayedEpoch(p: Curve["points"][number], endSeconds: number): EpochMetrics {
  return {
    schemaVersion: 1,
    namespace: "replay",
    run: "replay",
    runUid: "replay",
    fold: "0",
    attempt: 0,
    epoch: p.epoch,
    pseudoDice: [],
    epochTimeSeconds: p.epochTimeSeconds,
    observedAt: new Date(T0 + endSeconds * 1000).toISOString(),
  } as EpochMetrics;
}

export function replayFinish(curve: Curve, from = 0.2): CurveFinishErrors {
  const times = curve.points.map((p) => p.epochTimeSeconds ?? 0);
  const ends: number[] = [];
  times.reduce((sum, t, i) => (ends[i] = sum + t), 0);
  const realEnd = ends[ends.length - 1] ?? 0;
  const stop = replayCurve(curve, presetConfig("Forecast")).stopEpoch;
  const stopIndex = stop === undefined ? undefined : curve.points.findIndex((p) => p.epoch === stop);
  const stopEnd = stopIndex === undefined ? undefined : ends[stopIndex];
  let progress: FoldProgress | undefined;
  const errors: number[] = [];
  let worstStop = 0;
  curve.points.forEach((p, i) => {
    progress = accumulateProgress(progress, replayedEpoch(p, ends[i] ?? 0));
    if (p.epoch + 1 < from * curve.maxEpochs) return;
    const predicted = predictFoldFinish({
      epoch: progress.epoch,
      maxEpochs: curve.maxEpochs,
      epochSeconds: recentEpochSecondsOf(progress),
      lastEpochAt: new Date(progress.observedAt),
    });
    if (!predicted) return;
    const at = (predicted.getTime() - T0) / 1000;
    errors.push((at - realEnd) / realEnd);
    if (stopEnd !== undefined && stopIndex !== undefined && i <= stopIndex)
      worstStop = Math.max(worstStop, Math.abs(at - stopEnd) / stopEnd);
  });
  return {
    name: curve.name,
    maxEpochs: curve.maxEpochs,
    worstToScheduleEnd: errors.reduce((a, e) => Math.max(a, Math.abs(e)), 0),
    worstToForecastStop: stopEnd === undefined ? undefined : worstStop,
    errors,
  };
}

/** Curves that ran their whole schedule with logged epoch times: the only ones with a known real end. */
export function completeCurves(dir = CURVES_DIR): Curve[] {
  return readCurveDir(dir).filter(
    (c) => c.points.length >= c.maxEpochs && c.points.every((p) => (p.epochTimeSeconds ?? 0) > 0),
  );
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export const curvesDir = (...parts: string[]): string => join(CURVES_DIR, ...parts);

/** Errors of one predictor against the end an enforcing run has (the Forecast stop, else the schedule's end). */
export interface EnforcedEndErrors {
  readonly name: string;
  readonly toScheduleEnd: readonly number[];
  readonly toExtrapolatedStop: readonly number[];
}

/**
 * A stop predictor tried and not adopted (services/operator/README.md, "Predicted finish"):
 * the Forecast policy's gain bound at each epoch, extrapolated as the policy's own model of
 * the gain to come, (1 - p)^2, to the epoch where it would cross maxGain, plus the epochs
 * the policy waits to confirm. Compared with the schedule's end, both against the end an
 * enforcing run really has and with the same epoch time (the median of the last 50).
 */
export function replayEnforcedEnd(curve: Curve, from = 0.2): EnforcedEndErrors {
  const cfg = presetConfig("Forecast")(curve);
  const state = new FoldState(cfg);
  const times = curve.points.map((p) => p.epochTimeSeconds ?? 0);
  const ends: number[] = [];
  times.reduce((sum, t, i) => (ends[i] = sum + t), 0);
  const n = curve.maxEpochs;
  const { maxGain } = cfg.earlyStop.forecast;
  const confirm = 4;
  let best = Number.NEGATIVE_INFINITY;
  let progress: FoldProgress | undefined;
  const predictions: { index: number; scheduleEnd: number; extrapolated: number }[] = [];
  let stopIndex = curve.points.length - 1;
  for (let i = 0; i < curve.points.length; i++) {
    const p = curve.points[i]!;
    const outcome = state.ingest(p, 0);
    best = Math.max(best, p.emaPseudoDice ?? Number.NEGATIVE_INFINITY);
    progress = accumulateProgress(progress, replayedEpoch(p, ends[i] ?? 0));
    if (p.epoch + 1 >= from * n) {
      const epochSeconds = recentEpochSecondsOf(progress) ?? 0;
      const score = forecastScoreAt(state.history, cfg, state.history.length - 1, best).score;
      const left = 1 - (p.epoch + 1) / n;
      const stopEpoch = !Number.isFinite(score)
        ? n - 1
        : score <= maxGain
          ? p.epoch + confirm
          : Math.round(n * (1 - left * Math.sqrt(maxGain / score))) + confirm;
      const at = (epoch: number) =>
        (ends[i] ?? 0) + (Math.min(n - 1, Math.max(p.epoch, epoch)) - p.epoch) * epochSeconds;
      predictions.push({ index: i, scheduleEnd: at(n - 1), extrapolated: at(stopEpoch) });
    }
    if (outcome.accepted && outcome.decision !== undefined) {
      stopIndex = i;
      break;
    }
  }
  const real = ends[stopIndex] ?? 0;
  const err = (at: number) => (at - real) / real;
  return {
    name: curve.name,
    toScheduleEnd: predictions.map((x) => err(x.scheduleEnd)),
    toExtrapolatedStop: predictions.map((x) => err(x.extrapolated)),
  };
}
