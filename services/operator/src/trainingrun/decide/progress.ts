import type { EpochMetrics } from "@nnunet-operator/api";

// What the operator knows of a fold's training progress. The numbers come from the
// reporters' EpochMetrics on JetStream; the adapter keeps one FoldProgress per fold in
// memory, fed by a NATS subscription through accumulateProgress, and hands the map to the
// pure decisions. Lost on an operator restart, it is rebuilt by replaying the stream.

export interface FoldProgress {
  readonly attempt: number;
  /** Last finished epoch (0-based, as nnU-Net logs it). */
  readonly epoch: number;
  readonly latestEma?: number;
  readonly bestEma?: number;
  readonly bestEpoch?: number;
  /** Mean epoch time over the epochs seen, in seconds. */
  readonly meanEpochSeconds?: number;
  readonly epochsTimed: number;
  /** The last RECENT_EPOCH_TIMES epoch times, oldest first: see recentEpochSecondsOf. */
  readonly recentEpochSeconds?: readonly number[];
  readonly observedAt: string;
}

export const RECENT_EPOCH_TIMES = 50;

/**
 * The fold's current epoch time: the median of its last RECENT_EPOCH_TIMES epoch times.
 * The stall limit and the predicted finish both read it. Recent, because nnU-Net's first
 * epochs are often slower (data loading warms up, cudnn benchmarks) and a run's epoch time
 * can change for good partway (a resume on another node, a second phase): the mean over
 * every epoch would drag the old time along for the rest of the run. A median of 50, because
 * a cluster of slow epochs (a neighbour on the node for a while) must not hold the majority
 * and change the prediction for the whole schedule left. Measured on the real curves in
 * services/operator/README.md, "Predicted finish".
 */
export function recentEpochSecondsOf(progress: FoldProgress | undefined): number | undefined {
  const values = [...(progress?.recentEpochSeconds ?? [])].filter((v) => v > 0).sort((a, b) => a - b);
  if (values.length === 0) return undefined;
  const mid = Math.floor(values.length / 2);
  return values.length % 2 === 1 ? values[mid] : ((values[mid - 1] ?? 0) + (values[mid] ?? 0)) / 2;
}

/** Folds one EpochMetrics message into the fold's progress; older or repeated epochs are ignored. */
export function accumulateProgress(prev: FoldProgress | undefined, m: EpochMetrics): FoldProgress {
  // A resumed attempt replays epochs after checkpoint_latest; they replace nothing but the
  // latest values, and the best EMA stays the best seen over every attempt.
  if (prev && m.attempt === prev.attempt && m.epoch <= prev.epoch) return prev;
  if (prev && m.attempt < prev.attempt) return prev;
  const ema = m.emaPseudoDice;
  const improves = ema !== undefined && (prev?.bestEma === undefined || ema > prev.bestEma);
  const timed = m.epochTimeSeconds !== undefined;
  const epochsTimed = (prev?.epochsTimed ?? 0) + (timed ? 1 : 0);
  const meanEpochSeconds = timed
    ? ((prev?.meanEpochSeconds ?? 0) * (epochsTimed - 1) + m.epochTimeSeconds!) / epochsTimed
    : prev?.meanEpochSeconds;
  return {
    attempt: m.attempt,
    epoch: m.epoch,
    ...(ema !== undefined ? { latestEma: ema } : prev?.latestEma !== undefined ? { latestEma: prev.latestEma } : {}),
    ...(improves
      ? { bestEma: ema, bestEpoch: m.epoch }
      : prev?.bestEma !== undefined
        ? { bestEma: prev.bestEma, ...(prev.bestEpoch !== undefined ? { bestEpoch: prev.bestEpoch } : {}) }
        : {}),
    ...(meanEpochSeconds !== undefined ? { meanEpochSeconds } : {}),
    epochsTimed,
    ...(timed
      ? { recentEpochSeconds: [...(prev?.recentEpochSeconds ?? []), m.epochTimeSeconds!].slice(-RECENT_EPOCH_TIMES) }
      : prev?.recentEpochSeconds
        ? { recentEpochSeconds: prev.recentEpochSeconds }
        : {}),
    observedAt: m.observedAt,
  };
}
