import type { FoldStatus, TrainingRunStatus } from "@nnunet-operator/api";

// Whether a pass should write the status it computed. Progress (epochs, EMA, GPU-seconds,
// totals, summary) moves on every epoch of every fold; writing each of those would cost an
// API write per epoch. Material changes (phase, conditions, attempts, results) are written
// at once; progress alone at most every minIntervalSeconds, with a requeue so the last
// progress still lands.

const VOLATILE_FOLD_FIELDS = [
  "epoch",
  "latestEma",
  "bestEma",
  "bestEpoch",
  "gpuSecondsUsed",
  "gpuSecondsPlanned",
] as const;

function material(status: TrainingRunStatus | undefined): unknown {
  if (!status) return undefined;
  const { totals: _totals, summary: _summary, folds, conditions, ...rest } = status;
  return {
    ...rest,
    conditions: conditions?.map(({ lastTransitionTime: _t, ...c }) => c),
    folds: folds?.map((f) => {
      const copy: Partial<FoldStatus> = { ...f };
      for (const k of VOLATILE_FOLD_FIELDS) delete copy[k];
      return copy;
    }),
  };
}

export interface StatusWriteDecision {
  readonly write: boolean;
  /** When progress waits for the interval: come back then. */
  readonly requeueAfterSeconds?: number;
}

export function decideStatusWrite(
  stored: TrainingRunStatus | undefined,
  next: TrainingRunStatus,
  opts: { now: Date; lastWriteAt: Date | undefined; minIntervalSeconds: number },
): StatusWriteDecision {
  if (JSON.stringify(material(stored)) !== JSON.stringify(material(next))) return { write: true };
  if (JSON.stringify(stored) === JSON.stringify(next)) return { write: false };
  const since = opts.lastWriteAt ? (opts.now.getTime() - opts.lastWriteAt.getTime()) / 1000 : Infinity;
  if (since >= opts.minIntervalSeconds) return { write: true };
  return { write: false, requeueAfterSeconds: Math.ceil(opts.minIntervalSeconds - since) };
}
