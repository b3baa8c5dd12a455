import { type Clock, sleep } from "@nnunet-operator/kube";
import type { Logger } from "pino";
import type { EpochSource } from "./consumer.js";
import type { EarlyStopMetrics } from "./metrics.js";

// early-stop owns the NNUNET_EPOCHS stream. With NATS auth nobody may delete it, but an
// administrator with the system account can, and before auth anyone could: the consumer
// then waited forever on a consumer that was gone while /readyz said ready. This watch looks
// every interval; when the stream or the durable consumer is missing it reports not ready,
// counts it (the alert NnunetEpochStreamRecreated fires on the counter), recreates both and
// has the controller subscribe again. Epochs published while the stream was gone are lost
// to the stream (the reporters' publishes failed and were retried into the new stream).

export interface StreamWatchDeps {
  readonly source: Pick<EpochSource, "missing" | "prepare">;
  readonly metrics: Pick<EarlyStopMetrics, "streamReady" | "streamRecreated">;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs: number;
  /** The stream was recreated: subscribe again (the old subscription waits on a consumer that is gone). */
  readonly onRecreated: () => void;
}

export class StreamWatch {
  #ready = false;

  constructor(private readonly deps: StreamWatchDeps) {}

  /** Whether the last look found the stream and its consumer (for /readyz). */
  get ready(): boolean {
    return this.#ready;
  }

  /** One look; recreates what is missing. Never throws (a failed look counts as not ready). */
  async check(): Promise<void> {
    const { source, metrics, log } = this.deps;
    let missing: "stream" | "consumer" | undefined;
    try {
      missing = await source.missing();
    } catch (err) {
      this.set(false);
      log.warn({ err }, "cannot look at the epoch stream");
      return;
    }
    if (missing === undefined) return this.set(true);
    this.set(false);
    metrics.streamRecreated.inc({ missing });
    log.warn({ missing }, "epoch stream or consumer missing: recreating it");
    try {
      await source.prepare();
    } catch (err) {
      log.error({ err, missing }, "recreating the epoch stream failed; will retry");
      return;
    }
    this.deps.onRecreated();
    this.set(true);
  }

  /** Looks every interval until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.check();
      if (!(await sleep(this.deps.clock, this.deps.intervalMs, signal))) return;
    }
  }

  private set(ready: boolean): void {
    this.#ready = ready;
    this.deps.metrics.streamReady.set(ready ? 1 : 0);
  }
}
