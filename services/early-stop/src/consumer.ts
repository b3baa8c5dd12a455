import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EpochMetrics } from "@nnunet-operator/api";
import {
  ALL_EPOCHS,
  decodeEpochMessage,
  EPOCH_STREAM,
  type DecodeReason,
  type DeliveryMeta,
  ensureEpochConsumer,
  ensureEpochStream,
  type EpochStreamLimits,
  replayEpochs,
} from "@nnunet-operator/bus";

// Where the controller's epochs come from. The controller codes against EpochSource; this
// file adapts it to JetStream (packages/bus): the NNUNET_EPOCHS stream, one durable pull
// consumer on nnunet.epochs.> shared by the replicas (only the leader pulls), and a replay
// that rebuilds per-fold state after a (re)start or a change of leader.
//
// Replay reads the stream up to the last message the durable consumer has delivered: that
// is what earlier leaders processed (or had in flight). Everything after it the durable
// consumer delivers live, so no epoch is both replayed and counted new, none is skipped,
// and messages in flight when the last leader died are redelivered (and rejected as
// duplicates by the fold state, which already holds them from the replay).

export type EpochHandler = (metrics: EpochMetrics, meta: DeliveryMeta) => void | Promise<void>;
export type MalformedHandler = (reason: DecodeReason, detail: string, meta: DeliveryMeta) => void;

export interface EpochSource {
  /** Creates the stream and the durable consumer, or brings them to the wanted config; idempotent. */
  prepare(): Promise<void>;
  /** Which of the stream and the durable consumer are missing (someone deleted them); none when both exist. */
  missing(): Promise<"stream" | "consumer" | undefined>;
  /** Feeds every stored epoch up to the durable consumer's last delivery, in stream order; returns how many. */
  replayDelivered(handler: EpochHandler, onMalformed: MalformedHandler, signal: AbortSignal): Promise<number>;
  /** Feeds new epochs (acknowledged after `handler`) until `signal` aborts or the subscription ends. */
  consume(handler: EpochHandler, onMalformed: MalformedHandler, signal: AbortSignal): Promise<void>;
}

export interface NatsEpochSourceOptions {
  readonly nc: NatsConnection;
  readonly durable: string;
  readonly limits: EpochStreamLimits;
  readonly maxAckPending: number;
  /** Messages pulled per request. */
  readonly batch?: number;
  readonly onHandlerError?: (err: unknown, meta: DeliveryMeta) => void;
}

export function natsEpochSource(options: NatsEpochSourceOptions): EpochSource {
  const js = jetstream(options.nc);
  return {
    async prepare() {
      const jsm = await jetstreamManager(options.nc);
      await ensureEpochStream(jsm, options.limits);
      await ensureEpochConsumer(jsm, options.durable, {
        maxAckPending: options.maxAckPending,
        filterSubject: ALL_EPOCHS,
      });
    },

    async missing() {
      const jsm = await jetstreamManager(options.nc);
      try {
        await jsm.streams.info(EPOCH_STREAM);
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return "stream";
        throw err;
      }
      try {
        await jsm.consumers.info(EPOCH_STREAM, options.durable);
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return "consumer";
        throw err;
      }
      return undefined;
    },

    async replayDelivered(handler, onMalformed, signal) {
      const jsm = await jetstreamManager(options.nc);
      const upTo = (await jsm.consumers.info(EPOCH_STREAM, options.durable)).delivered.stream_seq;
      if (upTo === 0 || signal.aborted) return 0;
      const done = new AbortController();
      const stop = (): void => done.abort();
      signal.addEventListener("abort", stop, { once: true });
      let count = 0;
      try {
        await replayEpochs(
          js,
          ALL_EPOCHS,
          async (metrics, meta) => {
            if (meta.streamSequence > upTo) return done.abort();
            count += 1;
            await handler(metrics, meta);
            if (meta.streamSequence >= upTo) done.abort();
          },
          {
            signal: done.signal,
            onMalformed: (reason, detail, meta) => {
              if (meta.streamSequence <= upTo) onMalformed(reason, detail, meta);
              if (meta.streamSequence >= upTo) done.abort();
            },
          },
        );
      } finally {
        signal.removeEventListener("abort", stop);
      }
      return count;
    },

    async consume(handler, onMalformed, signal) {
      if (signal.aborted) return;
      const consumer = await js.consumers.get(EPOCH_STREAM, options.durable);
      const messages = await consumer.consume({ max_messages: options.batch ?? 512 });
      const stop = (): void => void messages.stop();
      signal.addEventListener("abort", stop, { once: true });
      const acks = new AckBatcher();
      try {
        for await (const m of messages) {
          const meta = metaOf(m);
          const decoded = decodeEpochMessage(m.subject, m.data);
          if (!decoded.ok) {
            onMalformed(decoded.reason, decoded.detail, meta);
            // No reason text: nats-server 2.9 only understands a bare +TERM.
            m.term();
          } else {
            try {
              const pending = handler(decoded.value, meta);
              if (pending !== undefined) await pending;
              acks.add(m);
            } catch (err) {
              options.onHandlerError?.(err, meta);
              m.nak(1000);
            }
          }
          // Acknowledge once the buffer of pulled messages is worked off (or every 128):
          // acks written in one go share a socket write instead of one each.
          if (messages.getPending() <= 1 || acks.size >= 128) acks.flush();
          if (signal.aborted) break;
        }
      } finally {
        acks.flush();
        signal.removeEventListener("abort", stop);
        await messages.close().catch(() => undefined);
      }
    },
  };
}

/** Acknowledgements held back until a batch is worked off; each is sent after its handler returned. */
class AckBatcher {
  private held: JsMsg[] = [];

  get size(): number {
    return this.held.length;
  }

  add(m: JsMsg): void {
    this.held.push(m);
  }

  flush(): void {
    for (const m of this.held.splice(0)) m.ack();
  }
}

function metaOf(m: JsMsg): DeliveryMeta {
  return {
    subject: m.subject,
    streamSequence: m.info.streamSequence,
    deliveryCount: m.info.deliveryCount,
    redelivered: m.info.redelivered,
    msgId: m.headers?.get("Nats-Msg-Id") || undefined,
  };
}
