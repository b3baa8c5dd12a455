// Predicted finish of training folds and estimated start of queued runs. Pure: numbers
// and dates in, dates out.
//
// A fold's end is the epochs it has left times its measured epoch time, counted from the
// time of its last epoch (not from now: a status computed between two epochs must not
// drift). The epochs left run to the end of the schedule, or to the stop already decided.
// The operator does not predict an early stop: the Forecast policy decides when its bound
// crosses maxGain, and on the real curves most folds it stops run to 80-100% of their
// schedule, so the schedule's end is the honest default (see the error report in
// services/operator/README.md, "Predicted finish").
//
// A queued run starts when the GPUs it waits for come free: the folds holding GPUs release
// them at their predicted ends, and the work queued ahead of it takes its share first. The
// estimate places pieces of work in queue order onto the GPUs freed node by node, as
// admission does (best-effort FIFO: a piece that does not fit lets smaller ones behind it
// pass). Work placed by the estimate holds its GPUs past the horizon: its own end is not
// predictable before it has run an epoch, so the estimate is a lower bound when the queue
// ahead is long.

import type { TrainingRun } from "@nnunet-operator/api";

export interface FoldTiming {
  /** Last finished epoch, 0-based. */
  readonly epoch: number;
  /** Planned epochs of the fold. */
  readonly maxEpochs: number;
  /** Measured seconds per epoch. */
  readonly epochSeconds: number | undefined;
  /** When the last epoch finished (the reporter's observation). */
  readonly lastEpochAt: Date;
  /** Epoch of a stop already decided, after which training ends. */
  readonly stopEpoch?: number | undefined;
}

/** When the fold's training is predicted to end, or undefined without a measured epoch time. */
export function predictFoldFinish(t: FoldTiming): Date | undefined {
  if (t.epochSeconds === undefined || !(t.epochSeconds > 0) || !Number.isFinite(t.lastEpochAt.getTime()))
    return undefined;
  const lastEpoch = Math.min(t.maxEpochs - 1, t.stopEpoch ?? t.maxEpochs - 1);
  const left = Math.max(0, lastEpoch - t.epoch);
  return new Date(t.lastEpochAt.getTime() + Math.round(left * t.epochSeconds) * 1000);
}

/** GPUs that come free at a time: one training fold's, on its node. */
export interface GpuRelease {
  /** Node of the fold's pod; folds whose node is unknown count as a node of their own. */
  readonly node: string;
  readonly gpus: number;
  readonly at: Date;
}

/** A run in the queue: its place and the GPUs each piece of its waiting work needs on one node. */
export interface QueuedRun {
  readonly key: string;
  readonly position: number;
  readonly pieces: readonly number[];
}

/**
 * When `target`'s first piece of work is estimated to start, or undefined when the
 * releases known now do not free enough GPUs for it (then nobody can say).
 */
export function estimateQueuedStart(
  target: QueuedRun,
  ahead: readonly QueuedRun[],
  releases: readonly GpuRelease[],
  now: Date,
): Date | undefined {
  // Nothing frees GPUs that anyone can foresee (below, no release: no placement).
  if (releases.length === 0) return undefined;
  const queue = [...ahead.filter((r) => r.position < target.position && r.key !== target.key)].sort(
    (a, b) => a.position - b.position || a.key.localeCompare(b.key),
  );
  const pending = [
    ...queue.flatMap((r) => r.pieces.map((gpus) => ({ gpus, mine: false }))),
    ...target.pieces.map((gpus) => ({ gpus, mine: true })),
  ];
  if (!pending.some((p) => p.mine)) return undefined;
  const free = new Map<string, number>();
  const ordered = [...releases].sort((a, b) => a.at.getTime() - b.at.getTime() || a.node.localeCompare(b.node));
  for (let i = 0; i < ordered.length; ) {
    const at = ordered[i]!.at.getTime();
    // Every release of the same instant before placing: two folds ending together free both.
    for (; i < ordered.length && ordered[i]!.at.getTime() === at; i++) {
      const r = ordered[i]!;
      free.set(r.node, (free.get(r.node) ?? 0) + r.gpus);
    }
    for (let j = 0; j < pending.length; j++) {
      const piece = pending[j]!;
      const node = bestFit(free, piece.gpus);
      if (node === undefined) continue;
      if (piece.mine) return new Date(Math.max(at, now.getTime()));
      free.set(node, (free.get(node) ?? 0) - piece.gpus);
      pending.splice(j--, 1);
    }
  }
  return undefined;
}

/** The node with the fewest free GPUs that still fit, as admission's best fit picks. */
function bestFit(free: ReadonlyMap<string, number>, gpus: number): string | undefined {
  let best: string | undefined;
  for (const [node, n] of [...free].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (n >= gpus && (best === undefined || n < (free.get(best) ?? 0))) best = node;
  }
  return best;
}

export interface QueueOutlook {
  readonly releases: readonly GpuRelease[];
  readonly waiting: readonly QueuedRun[];
}

const WAITING_FOLD = new Set(["Pending", "Queued"]);

/**
 * Read from the runs' stored statuses: each training fold with a predicted finish releases
 * its GPUs then; each run with a queue position waits with one piece per fold not started.
 */
export function queueOutlookOf(runs: readonly TrainingRun[]): QueueOutlook {
  return joinOutlooks(runs.map(runOutlookOf));
}

/** One run's part of the queue outlook (queueOutlookOf is every run's, joined). */
export function runOutlookOf(run: TrainingRun): QueueOutlook {
  const releases: GpuRelease[] = [];
  const key = `${run.metadata.namespace ?? "default"}/${run.metadata.name}`;
  const folds = run.status?.folds ?? [];
  for (const f of folds) {
    if (f.phase !== "Training" || f.predictedFinishAt === undefined) continue;
    releases.push({
      node: f.node ?? `${key}/fold-${f.fold}`,
      gpus: run.spec.gpu.perFold,
      at: new Date(f.predictedFinishAt),
    });
  }
  const position = run.status?.queue?.position;
  if (position === undefined) return { releases, waiting: [] };
  const started = new Set(folds.filter((f) => !WAITING_FOLD.has(f.phase)).map((f) => f.fold));
  const pieces = run.spec.folds
    .map(String)
    .filter((f) => !started.has(f))
    .map(() => run.spec.gpu.perFold);
  return { releases, waiting: [{ key, position, pieces }] };
}

/** The outlooks of several runs as one, in their order. */
export function joinOutlooks(parts: readonly QueueOutlook[]): QueueOutlook {
  const releases: GpuRelease[] = [];
  const waiting: QueuedRun[] = [];
  for (const p of parts) {
    for (const r of p.releases) releases.push(r);
    for (const w of p.waiting) waiting.push(w);
  }
  return { releases, waiting };
}
