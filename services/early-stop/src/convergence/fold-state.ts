import type { EpochMetrics } from "@nnunet-operator/api";
import type { PolicyConfig } from "./config.js";
import { decideStop, type Decision } from "./decide.js";
import { FoldHistory, pointFromMetrics, type EpochPoint } from "./history.js";

// The per-fold state of the early-stop controller. It holds nothing that replaying the
// fold's epochs (in stream order) cannot rebuild: after a restart the controller replays
// the stream and reaches the same history and the same decision.
//
// Attempts: a resumed pod (attempt + 1) re-runs the epochs after its checkpoint, so an epoch
// at or below the last one from a newer attempt replaces the history from there on. From
// the same attempt it is a duplicate (same epoch) or out of order; from an older attempt it
// is stale. Those are rejected, counted by the caller, and change nothing.

export type RejectReason = "Duplicate" | "OutOfOrder" | "StaleAttempt";

export type IngestOutcome =
  | { readonly accepted: true; readonly decision?: Decision }
  | { readonly accepted: false; readonly reason: RejectReason };

export class FoldState {
  readonly history = new FoldHistory();
  attempt = -1;
  /** The first stop decision; it stays once taken (the Job is suspended on it). */
  decision: Decision | undefined;

  constructor(readonly config: PolicyConfig) {}

  static replay(config: PolicyConfig, epochs: Iterable<EpochPoint & { readonly attempt: number }>): FoldState {
    const state = new FoldState(config);
    for (const e of epochs) state.ingest(e, e.attempt);
    return state;
  }

  ingestMetrics(m: EpochMetrics): IngestOutcome {
    return this.ingest(pointFromMetrics(m), m.attempt);
  }

  ingest(point: EpochPoint, attempt: number): IngestOutcome {
    const last = this.history.last;
    if (attempt < this.attempt) return { accepted: false, reason: "StaleAttempt" };
    if (last !== undefined && point.epoch <= last.epoch) {
      if (attempt === this.attempt)
        return { accepted: false, reason: point.epoch === last.epoch ? "Duplicate" : "OutOfOrder" };
      this.history.truncateFrom(point.epoch);
    }
    this.attempt = attempt;
    this.history.append(point);
    if (this.decision !== undefined) return { accepted: true };
    const decision = decideStop(this.history, this.config);
    if (decision === undefined) return { accepted: true };
    this.decision = decision;
    return { accepted: true, decision };
  }
}
