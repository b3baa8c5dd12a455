import type { EpochMetrics } from "@nnunet-operator/api";

// A fold's learning curve from the epoch messages stored for it, in stream order: what the
// fold's last attempt trained. A resumed attempt re-runs the epochs after its checkpoint, so
// an epoch from a newer attempt replaces the curve from that epoch on (the early-stop
// controller's FoldState reads the stream the same way); a repeated epoch of the same
// attempt, or one of an older attempt, changes nothing. A new incarnation of the run (a new
// runUid under the same name) starts the fold afresh. Pure.

export interface FoldCurve {
  readonly namespace: string;
  readonly run: string;
  readonly runUid: string;
  readonly fold: string;
  readonly epochs: readonly EpochMetrics[];
}

interface Building {
  namespace: string;
  run: string;
  runUid: string;
  fold: string;
  attempt: number;
  epochs: EpochMetrics[];
}

export function foldCurves(messages: Iterable<EpochMetrics>): FoldCurve[] {
  const folds = new Map<string, Building>();
  for (const m of messages) {
    const key = `${m.namespace}/${m.run}/${m.fold}`;
    let f = folds.get(key);
    if (f === undefined || f.runUid !== m.runUid) {
      f = { namespace: m.namespace, run: m.run, runUid: m.runUid, fold: m.fold, attempt: m.attempt, epochs: [] };
      folds.set(key, f);
    }
    if (m.attempt < f.attempt) continue;
    const last = f.epochs[f.epochs.length - 1];
    if (last !== undefined && m.epoch <= last.epoch) {
      if (m.attempt === f.attempt) continue;
      const from = f.epochs.findIndex((e) => e.epoch >= m.epoch);
      f.epochs.length = from;
    }
    f.attempt = m.attempt;
    f.epochs.push(m);
  }
  return [...folds.values()]
    .map(({ attempt: _attempt, ...curve }) => curve)
    .sort((a, b) => `${a.namespace}/${a.run}/${a.fold}`.localeCompare(`${b.namespace}/${b.run}/${b.fold}`));
}
