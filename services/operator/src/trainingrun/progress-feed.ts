import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EpochMetrics, Heartbeat } from "@nnunet-operator/api";
import {
  ALL_EPOCHS,
  ALL_HEARTBEATS,
  decodeEpochMessage,
  decodeHeartbeatMessage,
  replayEpochs,
} from "@nnunet-operator/bus";
import { accumulateProgress, type FoldProgress } from "./decide/progress.js";
import type { HeartbeatSeen } from "./decide/stall.js";

// The in-memory latest-epoch cache the reconciler hands to the pure decisions as
// RunWorld.progress, with the reporters' latest heartbeats and the state of the feed itself
// (decide/stall.ts tells a hung trainer from a lost stream with them). Fed by core-NATS
// subscriptions on every epoch and heartbeat subject (the reporters publish epochs to
// JetStream, whose subjects core subscribers see too), after a replay of the stream so that
// an operator restart starts from what is stored. accumulateProgress ignores repeated and
// older epochs, so the overlap of replay and live feed is harmless.

export class ProgressCache {
  private readonly byRun = new Map<string, Map<string, FoldProgress>>();
  private readonly beats = new Map<string, Map<string, HeartbeatSeen>>();
  /** Since when the feed is connected (ISO time); undefined while it is down or never ran. */
  feedSince: string | undefined;

  /** Folds one message in; returns whether the fold's progress changed. */
  add(m: EpochMetrics): boolean {
    let folds = this.byRun.get(m.runUid);
    if (!folds) this.byRun.set(m.runUid, (folds = new Map()));
    const prev = folds.get(m.fold);
    const next = accumulateProgress(prev, m);
    if (next === prev) return false;
    folds.set(m.fold, next);
    return true;
  }

  /** Keeps a fold's newest heartbeat, stamped with when it arrived. */
  heartbeat(h: Heartbeat, receivedAt: Date): void {
    let folds = this.beats.get(h.runUid);
    if (!folds) this.beats.set(h.runUid, (folds = new Map()));
    const prev = folds.get(h.fold);
    if (prev && prev.attempt > h.attempt) return;
    folds.set(h.fold, {
      attempt: h.attempt,
      ...(h.lastEpoch !== undefined && { lastEpoch: h.lastEpoch }),
      receivedAt: receivedAt.toISOString(),
    });
  }

  /** Progress of a run's folds by fold key, for RunWorld.progress. */
  of(runUid: string | undefined): ReadonlyMap<string, FoldProgress> {
    return (runUid && this.byRun.get(runUid)) || EMPTY;
  }

  heartbeatsOf(runUid: string | undefined): ReadonlyMap<string, HeartbeatSeen> {
    return (runUid && this.beats.get(runUid)) || NO_BEATS;
  }

  forget(runUid: string | undefined): void {
    if (!runUid) return;
    this.byRun.delete(runUid);
    this.beats.delete(runUid);
  }
}

const EMPTY: ReadonlyMap<string, FoldProgress> = new Map();
const NO_BEATS: ReadonlyMap<string, HeartbeatSeen> = new Map();

export interface ProgressFeedOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  cache: ProgressCache;
  now: () => Date;
  /** Called with `namespace/run` when a fold's progress moved. */
  onProgress: (key: string) => void;
  onMalformed?: (reason: string, detail: string) => void;
  onError?: (err: unknown) => void;
}

/**
 * Subscribes first (so nothing published during the replay is missed), replays the stream,
 * then follows the subscriptions until the connection drains or `signal` aborts. The feed
 * counts as connected from the end of the replay, and again from each reconnect: what was
 * published while it was away is not in the cache, so no quiet time counts across it.
 */
export async function runProgressFeed(options: ProgressFeedOptions, signal: AbortSignal): Promise<void> {
  const { nc, js, cache } = options;
  const sub = nc.subscribe(ALL_EPOCHS);
  const beats = nc.subscribe(ALL_HEARTBEATS, {
    callback: (err, msg) => {
      if (err) return;
      const decoded = decodeHeartbeatMessage(msg.subject, msg.data);
      if (decoded.ok) cache.heartbeat(decoded.value, options.now());
      else options.onMalformed?.(decoded.reason, decoded.detail);
    },
  });
  const stop = (): void => {
    sub.unsubscribe();
    beats.unsubscribe();
  };
  signal.addEventListener("abort", stop, { once: true });
  const take = (m: EpochMetrics): void => {
    if (cache.add(m)) options.onProgress(`${m.namespace}/${m.run}`);
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") cache.feedSince = undefined;
      if (s.type === "reconnect") cache.feedSince = options.now().toISOString();
    }
  })().catch((err: unknown) => options.onError?.(err));
  try {
    await replayEpochs(js, ALL_EPOCHS, take, {
      signal,
      onMalformed: (reason, detail) => options.onMalformed?.(reason, detail),
    });
  } catch (err) {
    // No stream yet (nothing was ever published) or JetStream unavailable: the live feed
    // still works; progress fills in status numbers (epochs, EMA, GPU-seconds).
    options.onError?.(err);
  }
  if (!nc.isClosed()) cache.feedSince = options.now().toISOString();
  try {
    for await (const msg of sub) {
      const decoded = decodeEpochMessage(msg.subject, msg.data);
      if (decoded.ok) take(decoded.value);
      else options.onMalformed?.(decoded.reason, decoded.detail);
    }
  } finally {
    cache.feedSince = undefined;
    signal.removeEventListener("abort", stop);
  }
}
