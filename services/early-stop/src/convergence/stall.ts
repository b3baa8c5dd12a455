import type { PolicyConfig } from "./config.js";
import type { FoldHistory } from "./history.js";

// Stall: a fold that has logged no epoch for stallAfterEpochTimes median epoch times is
// reported, so that the operator can restart its pod. A report, never a stop: missing
// metrics must not end a training. Without a finished epoch there is no median to judge by.

export interface StallReport {
  readonly stalled: boolean;
  readonly secondsSinceLastEpoch?: number;
  readonly medianEpochSeconds?: number;
  readonly limitSeconds?: number;
}

const MEDIAN_OVER = 20;

/**
 * `quietSinceMs`: when the fold was known to be alive after its last epoch (a new attempt
 * that started later and has logged nothing yet); the quiet time is counted from the later
 * of the two.
 */
export function checkStall(h: FoldHistory, nowMs: number, cfg: PolicyConfig, quietSinceMs?: number): StallReport {
  const last = h.last;
  if (last?.observedAtMs === undefined || !Number.isFinite(last.observedAtMs)) return { stalled: false };
  const median = medianEpochSeconds(h);
  const since = Math.max(0, (nowMs - Math.max(last.observedAtMs, quietSinceMs ?? -Infinity)) / 1000);
  if (median === undefined) return { stalled: false, secondsSinceLastEpoch: since };
  const limit = cfg.earlyStop.stallAfterEpochTimes * median;
  return { stalled: since > limit, secondsSinceLastEpoch: since, medianEpochSeconds: median, limitSeconds: limit };
}

/** Median of the last epochs' logged times, or of the gaps between their arrivals when nnU-Net's times are missing. */
export function medianEpochSeconds(h: FoldHistory): number | undefined {
  const recent = h.points.slice(-MEDIAN_OVER);
  let values = recent.map((p) => p.epochTimeSeconds).filter((v): v is number => v !== undefined && v > 0);
  if (values.length === 0) {
    values = [];
    for (let i = 1; i < recent.length; i++) {
      const a = recent[i - 1]?.observedAtMs;
      const b = recent[i]?.observedAtMs;
      if (a !== undefined && b !== undefined && b > a) values.push((b - a) / 1000);
    }
  }
  if (values.length === 0) return undefined;
  values.sort((x, y) => x - y);
  const mid = Math.floor(values.length / 2);
  return values.length % 2 === 1 ? values[mid] : ((values[mid - 1] ?? 0) + (values[mid] ?? 0)) / 2;
}
