import { checkStall } from "./convergence/stall.js";
import type { FoldEntry } from "./ingest.js";
import type { RunView } from "./runs.js";

// Which folds to report stalled on a tick. Pure over the fold's state, the run as last seen
// and `now`. Only a fold that should still be logging epochs can stall: not one that has a
// stop decision, has finished its schedule, or that the operator reports in another phase
// than Training (restarting, converged, failed, ...).

export type StallVerdict =
  | { readonly stalled: false }
  | { readonly stalled: true; readonly lastEpoch: number; readonly secondsSinceLastEpoch: number; readonly limitSeconds: number };

export function checkFoldStall(entry: FoldEntry, run: RunView | undefined, nowMs: number): StallVerdict {
  const state = entry.state;
  const last = state.history.last;
  if (last === undefined || state.decision !== undefined || run === undefined || run.uid !== entry.runUid) return { stalled: false };
  const phase = run.phases.get(entry.fold);
  if (phase !== undefined && phase !== "Training") return { stalled: false };
  if (last.epoch + 1 >= state.config.maxEpochs) return { stalled: false };
  const report = checkStall(state.history, nowMs, state.config);
  if (!report.stalled || report.secondsSinceLastEpoch === undefined || report.limitSeconds === undefined) return { stalled: false };
  return { stalled: true, lastEpoch: last.epoch, secondsSinceLastEpoch: report.secondsSinceLastEpoch, limitSeconds: report.limitSeconds };
}
