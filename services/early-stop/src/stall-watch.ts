import { checkStall } from "./convergence/stall.js";
import type { FoldEntry } from "./ingest.js";
import type { RunView } from "./runs.js";

// Which folds to report stalled on a tick. Pure over the fold's state, the run as last seen
// and `now`. Only a fold that should still be logging epochs can stall: not one that has a
// stop decision, has finished its schedule, or that the operator reports in another phase
// than Training (restarting, converged, failed, ...).
//
// Attempts: after a restart the operator's status names the next attempt before its pod has
// logged anything, while the fold's epochs are still the old attempt's. The quiet time of
// the new attempt counts from when this term first saw it, not from the old attempt's last
// epoch; otherwise every restart would look stalled at once.

export type StallVerdict =
  | { readonly stalled: false }
  | {
      readonly stalled: true;
      /** The attempt that stalled: the newer of the epochs' and the status'. */
      readonly attempt: number;
      readonly lastEpoch: number;
      readonly secondsSinceLastEpoch: number;
      readonly limitSeconds: number;
    };

/** Notes when the status first names an attempt newer than the fold's epochs. Call before checkFoldStall. */
export function trackAttempt(entry: FoldEntry, run: RunView | undefined, nowMs: number): void {
  const status = run !== undefined && run.uid === entry.runUid ? run.attempts.get(entry.fold) : undefined;
  if (status === undefined || status <= entry.state.attempt) {
    delete entry.attemptStart;
    return;
  }
  if (entry.attemptStart?.attempt !== status) entry.attemptStart = { attempt: status, atMs: nowMs };
}

export function checkFoldStall(entry: FoldEntry, run: RunView | undefined, nowMs: number): StallVerdict {
  const state = entry.state;
  const last = state.history.last;
  if (last === undefined || state.decision !== undefined || run === undefined || run.uid !== entry.runUid) return { stalled: false };
  const phase = run.phases.get(entry.fold);
  if (phase !== undefined && phase !== "Training") return { stalled: false };
  if (last.epoch + 1 >= state.config.maxEpochs) return { stalled: false };
  const started = entry.attemptStart;
  const report = checkStall(state.history, nowMs, state.config, started?.atMs);
  if (!report.stalled || report.secondsSinceLastEpoch === undefined || report.limitSeconds === undefined) return { stalled: false };
  const attempt = Math.max(state.attempt, started?.attempt ?? 0);
  return { stalled: true, attempt, lastEpoch: last.epoch, secondsSinceLastEpoch: report.secondsSinceLastEpoch, limitSeconds: report.limitSeconds };
}

/** One stall: an attempt quiet after an epoch. Reported (Event, Job annotation) once each. */
export function stallKey(verdict: { readonly attempt: number; readonly lastEpoch: number }): string {
  return `${verdict.attempt}/${verdict.lastEpoch}`;
}
