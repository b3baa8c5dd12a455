import type { EpochMetrics } from "@nnunet-operator/api";
import { decodeEpochMessage, type DeliveryMeta, encodeEpochMetrics, epochSubject } from "@nnunet-operator/bus";
import type { EpochHandler, EpochSource, MalformedHandler } from "../consumer.js";

// An in-memory EpochSource with the semantics of the JetStream adapter: one stream in
// publish order, one durable consumer (delivered and acknowledged floors) shared by every
// controller that consumes from it, replay up to the last delivery. For unit tests of the
// controller without a nats-server.

interface Stored {
  seq: number;
  subject: string;
  data: Uint8Array;
}

export class MemoryEpochSource implements EpochSource {
  readonly stream: Stored[] = [];
  /** Durable consumer: last delivered and last acknowledged stream sequence. */
  delivered = 0;
  acked = 0;
  /** consume() calls running now. */
  consuming = 0;
  prepared = 0;
  /** The next prepare() calls fail with these errors. */
  readonly prepareFailures: Error[] = [];
  /** What missing() reports until prepare() runs: someone deleted the stream or the consumer. */
  gone: "stream" | "consumer" | undefined;
  private waiters: Array<() => void> = [];

  publish(metrics: EpochMetrics): number {
    return this.publishRaw(epochSubject(metrics), encodeEpochMetrics(metrics));
  }

  publishRaw(subject: string, data: Uint8Array | string): number {
    const seq = this.stream.length + 1;
    this.stream.push({ seq, subject, data: typeof data === "string" ? new TextEncoder().encode(data) : data });
    for (const wake of this.waiters.splice(0)) wake();
    return seq;
  }

  async prepare(): Promise<void> {
    const failure = this.prepareFailures.shift();
    if (failure) throw failure;
    this.prepared += 1;
    this.gone = undefined;
  }

  async missing(): Promise<"stream" | "consumer" | undefined> {
    return this.gone;
  }

  async replayDelivered(handler: EpochHandler, onMalformed: MalformedHandler, signal: AbortSignal): Promise<number> {
    let count = 0;
    for (const m of this.stream.slice(0, this.delivered)) {
      if (signal.aborted) break;
      if (await this.feed(m, handler, onMalformed)) count += 1;
    }
    return count;
  }

  async consume(handler: EpochHandler, onMalformed: MalformedHandler, signal: AbortSignal): Promise<void> {
    this.consuming += 1;
    try {
      // Unacknowledged deliveries come again first, then new messages.
      let next = this.acked;
      while (!signal.aborted) {
        const m = this.stream[next];
        if (m === undefined) {
          await new Promise<void>((resolve) => {
            this.waiters.push(resolve);
            signal.addEventListener("abort", () => resolve(), { once: true });
          });
          continue;
        }
        this.delivered = Math.max(this.delivered, m.seq);
        await this.feed(m, handler, onMalformed);
        this.acked = Math.max(this.acked, m.seq);
        next += 1;
      }
    } finally {
      this.consuming -= 1;
    }
  }

  private async feed(m: Stored, handler: EpochHandler, onMalformed: MalformedHandler): Promise<boolean> {
    const meta: DeliveryMeta = {
      subject: m.subject,
      streamSequence: m.seq,
      deliveryCount: 1,
      redelivered: false,
      msgId: undefined,
    };
    const decoded = decodeEpochMessage(m.subject, m.data);
    if (!decoded.ok) {
      onMalformed(decoded.reason, decoded.detail, meta);
      return false;
    }
    await handler(decoded.value, meta);
    return true;
  }
}
