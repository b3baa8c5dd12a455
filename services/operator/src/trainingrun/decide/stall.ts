import type { Failure } from "./failures.js";
import { type FoldProgress, recentEpochSecondsOf } from "./progress.js";

// Stall detection, owned by the operator (DESIGN.md: one owner per concern). A fold whose
// attempt logs no epoch for stallAfterEpochTimes median epoch times has passed its stall
// deadline; the reconcile is requeued for that deadline (kueue's reconcileNotReadyTimeout
// pattern), so nothing polls before it.
//
// Past the deadline, missing epochs alone prove nothing: the trainer may hang, or its
// epochs may be lost on the way (a NATS outage, a network partition of the pod). The
// reporter's heartbeats tell the two apart, because the reporter runs beside the trainer
// and reads its log: a heartbeat of this attempt received after the deadline whose last
// epoch is no newer than the last epoch we have says "the log has not moved": a hung
// trainer, restarted. A heartbeat with a newer epoch says the trainer moves and the epochs
// are lost: not a stall. No heartbeat since the deadline says nothing either way: not a
// stall. And while the operator's own feed is down, or since it last (re)connected, no time
// counts: a NATS outage never reads as a stall.
//
// An attempt's first epoch comes after its start-up, which no epoch time shows: until it
// logs one, the attempt is held to the operator's startTimeouts.firstEpochSeconds where that
// is longer than the stall limit (and a fold without any epoch time yet only to it), with
// the same confirmation by the heartbeat and the same restart (reason FirstEpochTimeout).
// A trainer that never started is told by its pod's status instead (start-timeouts.ts).

export interface HeartbeatSeen {
  readonly attempt: number;
  readonly lastEpoch?: number;
  /** When the operator received it (its clock, not the reporter's). */
  readonly receivedAt: string;
}

export interface StallInput {
  readonly attempt: number;
  /** When the attempt's pod started: quiet time counts from here at the earliest. */
  readonly startedAt: string | undefined;
  readonly progress: FoldProgress | undefined;
  readonly heartbeat: HeartbeatSeen | undefined;
  /** Since when the operator's epoch feed is connected; undefined while it is down (or absent). */
  readonly feedSince: string | undefined;
  readonly stallAfterEpochTimes: number;
  /**
   * The operator's startTimeouts.firstEpochSeconds (0: off). Before an attempt's first epoch
   * its start-up (loading the data, a checkpoint to resume) takes time no epoch time shows:
   * the attempt gets the longer of this and the stall limit, and a fold without any epoch
   * time yet gets this one.
   */
  readonly firstEpochSeconds: number;
  /** The fold's planned epochs: after the last one nnU-Net validates, logging no epoch. */
  readonly maxEpochs: number;
  readonly now: Date;
}

export type StallVerdict =
  /** Nothing to judge by (no epoch time known yet, no feed), or the deadline is ahead. */
  | { readonly kind: "watching"; readonly requeueAfterSeconds?: number }
  /** Past the deadline without proof of a hang: the stream is lost (or not confirmed yet). */
  | { readonly kind: "unconfirmed"; readonly message: string; readonly requeueAfterSeconds: number }
  | { readonly kind: "stalled"; readonly failure: Failure };

const ms = (iso: string | undefined): number => (iso === undefined ? Number.NEGATIVE_INFINITY : Date.parse(iso));

export function decideStall(input: StallInput): StallVerdict {
  const { progress, heartbeat, now } = input;
  if (input.feedSince === undefined) return { kind: "watching" };
  const own = progress !== undefined && progress.attempt === input.attempt ? progress : undefined;
  if (own !== undefined && own.epoch + 1 >= input.maxEpochs) return { kind: "watching" };
  const median = recentEpochSecondsOf(progress);
  const stallLimit = median === undefined ? undefined : input.stallAfterEpochTimes * median;
  const firstLimit = own === undefined && input.firstEpochSeconds > 0 ? input.firstEpochSeconds : undefined;
  const limit = Math.max(stallLimit ?? 0, firstLimit ?? 0);
  if (limit === 0) return { kind: "watching" };
  // Which rule the attempt is held to, for the message: its first epoch's, or the stall's.
  const first = firstLimit !== undefined && firstLimit >= (stallLimit ?? 0);
  const quietSince = Math.max(ms(own?.observedAt), ms(input.startedAt), ms(input.feedSince));
  if (!Number.isFinite(quietSince)) return { kind: "watching" };
  const deadline = quietSince + limit * 1000;
  const nowMs = now.getTime();
  if (nowMs < deadline)
    return { kind: "watching", requeueAfterSeconds: Math.max(1, Math.ceil((deadline - nowMs) / 1000)) };

  const quiet = (nowMs - quietSince) / 1000;
  const after = own ? `after epoch ${own.epoch}` : `since attempt ${input.attempt} started`;
  // Look again while waiting for a heartbeat, often enough for a short limit.
  const recheck = Math.min(30, Math.max(1, Math.ceil(limit / 4)));
  const confirming =
    heartbeat !== undefined && heartbeat.attempt === input.attempt && ms(heartbeat.receivedAt) >= deadline
      ? heartbeat
      : undefined;
  if (confirming === undefined) {
    return {
      kind: "unconfirmed",
      message: `no epoch for ${seconds(quiet)} ${after} (limit ${seconds(limit)}) and no heartbeat of the reporter since: the fold's stream is lost, not judged stalled`,
      requeueAfterSeconds: recheck,
    };
  }
  const seen = own?.epoch ?? -1;
  if ((confirming.lastEpoch ?? -1) > seen) {
    return {
      kind: "unconfirmed",
      message: `the reporter sees epoch ${confirming.lastEpoch} but no epoch after ${seen < 0 ? "the start" : `epoch ${seen}`} arrived for ${seconds(quiet)}: its epochs are lost on the way, the trainer is not stalled`,
      requeueAfterSeconds: recheck,
    };
  }
  const confirmed = "the reporter's heartbeat confirms the log has not moved";
  return {
    kind: "stalled",
    failure: first
      ? {
          kind: "Retryable",
          reason: "FirstEpochTimeout",
          waitedOut: true,
          message: `FirstEpochTimeout: no first epoch for ${limit} s since attempt ${input.attempt} started (operator startTimeouts.firstEpochSeconds; ${confirmed})`,
          at: now,
        }
      : {
          kind: "Retryable",
          reason: "Stalled",
          waitedOut: true,
          message: `training stalled: no epoch for ${seconds(quiet)} ${after} (limit ${seconds(limit)}, ${input.stallAfterEpochTimes} median epoch times; ${confirmed})`,
          at: now,
        },
  };
}

/** 612s, 5.4s: whole seconds unless that would hide the difference from a short limit. */
function seconds(x: number): string {
  return x >= 100 ? `${Math.round(x)}s` : `${Math.round(x * 10) / 10}s`;
}
