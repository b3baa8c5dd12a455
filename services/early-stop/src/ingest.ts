import type { EpochMetrics, StopDecision } from "@nnunet-operator/api";
import type { DecodeReason } from "@nnunet-operator/bus";
import type { Decision } from "./convergence/decide.js";
import { FoldState, type RejectReason } from "./convergence/fold-state.js";
import type { ReadRunResult, RunView } from "./runs.js";

// The controller's per-fold state and the checks every epoch message passes before it
// reaches its fold: the run must exist (unknown-run), be readable (invalid-run), be the same
// incarnation that published (run-uid-mismatch) and train that fold (unplanned-fold); then
// FoldState rejects duplicates, out-of-order epochs and stale attempts. No I/O: the consumer
// feeds it, the terminator acts on what it returns. Rejected messages change nothing, so a
// malformed or foreign message can never lead to a stop.

export type Rejection =
  | DecodeReason
  | "unknown-run"
  | "invalid-run"
  | "run-uid-mismatch"
  | "unplanned-fold"
  | "duplicate"
  | "out-of-order"
  | "stale-attempt";

const FOLD_REJECTION: Record<RejectReason, Rejection> = {
  Duplicate: "duplicate",
  OutOfOrder: "out-of-order",
  StaleAttempt: "stale-attempt",
};

export interface FoldEntry {
  /** `namespace/run/fold`. */
  readonly key: string;
  readonly namespace: string;
  readonly run: string;
  readonly fold: string;
  readonly runUid: string;
  state: FoldState;
  /** Key of the config `state` was built with; a change rebuilds the state. */
  configKey: string;
  /** When the epoch that decided was received (ms), for the decision latency. */
  decidedAtMs?: number;
  /** The decision is on the Job (or nothing is left to stop): no more patch attempts. */
  settled: boolean;
  /** An audit's would-be decision whose checkpoint copy the fold's reporter has not confirmed yet, and the tries left. */
  keepCheckpoint?: { readonly decision: StopDecision; triesLeft: number } | undefined;
  /** When the fold's last accepted epoch was received (ms). */
  lastEpochAtMs: number;
}

export type IngestResult =
  | { readonly accepted: false; readonly reason: Rejection; readonly detail: string }
  | { readonly accepted: true; readonly entry: FoldEntry; readonly run: RunView; readonly decision?: Decision };

export function foldEntryKey(namespace: string, run: string, fold: string): string {
  return `${namespace}/${run}/${fold}`;
}

export class EpochIngestor {
  readonly folds = new Map<string, FoldEntry>();

  constructor(private readonly runs: { get(namespace: string, name: string): ReadRunResult | undefined }) {}

  ingest(m: EpochMetrics, receivedAtMs: number): IngestResult {
    const found = this.runs.get(m.namespace, m.run);
    if (found === undefined) return reject("unknown-run", `no TrainingRun ${m.namespace}/${m.run}`);
    if (!found.ok) return reject("invalid-run", `TrainingRun ${m.namespace}/${m.run}: ${found.detail}`);
    const run = found.run;
    if (run.uid !== m.runUid)
      return reject(
        "run-uid-mismatch",
        `TrainingRun ${m.namespace}/${m.run} has uid ${run.uid}, the message ${m.runUid}`,
      );
    const planned = run.configs.get(m.fold);
    if (planned === undefined)
      return reject("unplanned-fold", `TrainingRun ${m.namespace}/${m.run} does not train fold ${m.fold}`);

    const key = foldEntryKey(m.namespace, m.run, m.fold);
    let entry = this.folds.get(key);
    const decidedBefore = entry !== undefined && entry.runUid === m.runUid && entry.state.decision !== undefined;
    if (entry === undefined || entry.runUid !== m.runUid) {
      entry = {
        key,
        namespace: m.namespace,
        run: m.run,
        fold: m.fold,
        runUid: m.runUid,
        state: new FoldState(planned.config),
        configKey: planned.key,
        settled: false,
        lastEpochAtMs: receivedAtMs,
      };
      this.folds.set(key, entry);
    } else if (entry.configKey !== planned.key && entry.state.decision === undefined) {
      // The spec or the planned schedule changed: decide as if the new config had applied
      // from the first epoch, which is what a replay after a restart would do.
      entry.state = rebuild(entry.state, planned.config);
      entry.configKey = planned.key;
    }

    const outcome = entry.state.ingestMetrics(m);
    if (!outcome.accepted) {
      // FoldState calls only a repeat of the last epoch a duplicate; a redelivery of any epoch
      // it holds is one too (the same message id), not an epoch out of order.
      const reason =
        outcome.reason === "OutOfOrder" && holdsEpoch(entry.state, m.epoch)
          ? "duplicate"
          : FOLD_REJECTION[outcome.reason];
      return reject(reason, `fold ${key} attempt ${m.attempt} epoch ${m.epoch}: ${reason}`);
    }
    entry.lastEpochAtMs = receivedAtMs;
    // A rebuild above may have decided on an earlier epoch without this epoch deciding.
    const decision = outcome.decision ?? (!decidedBefore ? entry.state.decision : undefined);
    if (decision !== undefined) entry.decidedAtMs = receivedAtMs;
    return decision === undefined ? { accepted: true, entry, run } : { accepted: true, entry, run, decision };
  }

  /** Folds with a decision not yet on their Job. */
  pending(): FoldEntry[] {
    return [...this.folds.values()].filter((e) => e.state.decision !== undefined && !e.settled);
  }

  /** Forgets every fold of a run (deleted); returns the forgotten entries. */
  forgetRun(namespace: string, run: string): FoldEntry[] {
    const prefix = `${namespace}/${run}/`;
    const gone = [...this.folds.values()].filter((e) => e.key.startsWith(prefix));
    for (const e of gone) this.folds.delete(e.key);
    return gone;
  }
}

function reject(reason: Rejection, detail: string): IngestResult {
  return { accepted: false, reason, detail };
}

function holdsEpoch(state: FoldState, epoch: number): boolean {
  const points = state.history.points;
  let lo = 0;
  let hi = points.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = points[mid]?.epoch ?? 0;
    if (e === epoch) return true;
    if (e < epoch) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

function rebuild(old: FoldState, config: FoldState["config"]): FoldState {
  const next = FoldState.replay(
    config,
    old.history.points.map((p) => ({ ...p, attempt: old.attempt })),
  );
  next.attempt = old.attempt;
  return next;
}
