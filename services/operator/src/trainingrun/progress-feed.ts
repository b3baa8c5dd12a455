import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EpochMetrics } from "@nnunet-operator/api";
import { ALL_EPOCHS, decodeEpochMessage, replayEpochs } from "@nnunet-operator/bus";
import { accumulateProgress, type FoldProgress } from "./decide/progress.js";

// The in-memory latest-epoch cache the reconciler hands to the pure decisions as
// RunWorld.progress. Fed by a core-NATS subscription on every epoch subject (the reporters
// publish to JetStream, whose subjects core subscribers see too), after a replay of the
// stream so that an operator restart starts from what is stored. accumulateProgress
// ignores repeated and older epochs, so the overlap of replay and live feed is harmless.

export class ProgressCache {
  private readonly byRun = new Map<string, Map<string, FoldProgress>>();

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

  /** Progress of a run's folds by fold key, for RunWorld.progress. */
  of(runUid: string | undefined): ReadonlyMap<string, FoldProgress> {
    return (runUid && this.byRun.get(runUid)) || EMPTY;
  }

  forget(runUid: string | undefined): void {
    if (runUid) this.byRun.delete(runUid);
  }
}

const EMPTY: ReadonlyMap<string, FoldProgress> = new Map();

export interface ProgressFeedOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  cache: ProgressCache;
  /** Called with `namespace/run` when a fold's progress moved. */
  onProgress: (key: string) => void;
  onMalformed?: (reason: string, detail: string) => void;
  onError?: (err: unknown) => void;
}

/**
 * Subscribes first (so nothing published during the replay is missed), replays the stream,
 * then follows the subscription until the connection drains or `signal` aborts.
 */
export async function runProgressFeed(options: ProgressFeedOptions, signal: AbortSignal): Promise<void> {
  const { nc, js, cache } = options;
  const sub = nc.subscribe(ALL_EPOCHS);
  const stop = (): void => sub.unsubscribe();
  signal.addEventListener("abort", stop, { once: true });
  const take = (m: EpochMetrics): void => {
    if (cache.add(m)) options.onProgress(`${m.namespace}/${m.run}`);
  };
  try {
    await replayEpochs(js, ALL_EPOCHS, take, { signal, onMalformed: (reason, detail) => options.onMalformed?.(reason, detail) });
  } catch (err) {
    // No stream yet (nothing was ever published) or JetStream unavailable: the live feed
    // still works; progress fills in status numbers (epochs, EMA, GPU-seconds).
    options.onError?.(err);
  }
  for await (const msg of sub) {
    const decoded = decodeEpochMessage(msg.subject, msg.data);
    if (decoded.ok) take(decoded.value);
    else options.onMalformed?.(decoded.reason, decoded.detail);
  }
  signal.removeEventListener("abort", stop);
}
