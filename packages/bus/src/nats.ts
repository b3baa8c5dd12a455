import { readFile } from "node:fs/promises";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
  RetentionPolicy,
  type StreamConfig,
  type StreamInfo,
  StorageType,
} from "@nats-io/jetstream";
import { type NatsConnection, connect, credsAuthenticator, nanos } from "@nats-io/transport-node";
import type { EpochMetrics, Heartbeat } from "@nnunet-operator/api";
import { type DecodeReason, encodeEpochMetrics, encodeHeartbeat, decodeEpochMessage } from "./messages.js";
import {
  ALL_EPOCHS,
  EPOCH_STREAM,
  epochMessageId,
  epochSubject,
  heartbeatSubject,
  parseEpochSubject,
  runEpochsFilter,
} from "./subjects.js";

// Thin adapters over nats.js 3.x for the nats-server 2.9 feature set: connect, the epoch
// stream, publish with de-duplication ids, a durable pull consumer, purge by subject and
// drain. No module-level state: every function takes its connection or client.

export class BusConfigError extends Error {
  override readonly name = "BusConfigError";
  readonly retryable = false;
}

export interface BusConnectOptions {
  servers: string | string[];
  /** Shown by the server's monitoring (connz): the service and pod. */
  name: string;
  /** A NATS .creds file (JWT and nkey seed). */
  credsFile?: string | undefined;
  /** Where replies arrive; a fold's user may subscribe only below foldInboxPrefix. */
  inboxPrefix?: string | undefined;
  /** TLS: a CA file to verify the server with (the chart's nats.tls option). */
  tlsCaFile?: string | undefined;
  /** Keep trying the first connect until a server answers; default true (sidecars start early). */
  waitOnFirstConnect?: boolean;
  reconnectTimeWaitMs?: number;
  reconnectJitterMs?: number;
  /** Drains the connection when aborted. */
  signal?: AbortSignal;
}

/** Connects with reconnects forever (with jitter); drains on `signal`. */
export async function connectBus(options: BusConnectOptions): Promise<NatsConnection> {
  const authenticator = options.credsFile
    ? credsAuthenticator(new Uint8Array(await readFile(options.credsFile)))
    : undefined;
  const nc = await connect({
    servers: options.servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1000,
    reconnectJitter: options.reconnectJitterMs ?? 500,
    waitOnFirstConnect: options.waitOnFirstConnect ?? true,
    ...(authenticator && { authenticator }),
    ...(options.inboxPrefix && { inboxPrefix: options.inboxPrefix }),
    ...(options.tlsCaFile && { tls: { caFile: options.tlsCaFile } }),
  });
  // Not awaited: the promise settles when the connection closes.
  if (options.signal) void drainOnAbort(nc, options.signal);
  return nc;
}

/** Drains `nc` (flushes publishes, lets subscriptions finish) once `signal` aborts. Returns when closed. */
export function drainOnAbort(nc: NatsConnection, signal: AbortSignal): Promise<void> {
  const drain = (): void => {
    if (!nc.isClosed() && !nc.isDraining()) nc.drain().catch(() => undefined);
  };
  if (signal.aborted) drain();
  else signal.addEventListener("abort", drain, { once: true });
  return nc.closed().then(() => signal.removeEventListener("abort", drain));
}

export interface EpochStreamLimits {
  /** Messages older than this are dropped; a run's epochs must outlive the run. */
  maxAgeMs: number;
  maxBytes: number;
  /** JetStream de-duplicates message ids within this window (at most maxAgeMs). */
  duplicateWindowMs: number;
  replicas?: number;
}

function isNotFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

function wantedStream(limits: EpochStreamLimits): Partial<StreamConfig> & { name: string } {
  return {
    name: EPOCH_STREAM,
    subjects: [ALL_EPOCHS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(limits.maxAgeMs),
    max_bytes: limits.maxBytes,
    duplicate_window: nanos(limits.duplicateWindowMs),
    num_replicas: limits.replicas ?? 1,
    // Direct get with the subject in the API subject: a fold's user may look up its own
    // last stored epoch, and permissions keep it from reading anyone else's.
    allow_direct: true,
  };
}

/** Fields of the stream config that differ from what is wanted. Pure. */
export function streamDrift(current: StreamConfig, wanted: Partial<StreamConfig>): string[] {
  const fields = [
    "subjects",
    "max_age",
    "max_bytes",
    "duplicate_window",
    "num_replicas",
    "discard",
    "retention",
    "allow_direct",
  ] as const;
  return fields.filter((f) => JSON.stringify(current[f]) !== JSON.stringify(wanted[f]));
}

/** Creates NNUNET_EPOCHS or brings its limits to `limits`; idempotent, safe for racing replicas. */
export async function ensureEpochStream(
  jsm: JetStreamManager,
  limits: EpochStreamLimits,
): Promise<{ info: StreamInfo; action: "created" | "updated" | "unchanged" }> {
  if (limits.maxAgeMs > 0 && limits.duplicateWindowMs > limits.maxAgeMs)
    throw new BusConfigError("duplicateWindowMs must not exceed maxAgeMs");
  const wanted = wantedStream(limits);
  for (let attempt = 0; ; attempt++) {
    let current: StreamInfo | undefined;
    try {
      current = await jsm.streams.info(EPOCH_STREAM);
    } catch (err) {
      if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) throw err;
    }
    if (!current) {
      try {
        return { info: await jsm.streams.add(wanted), action: "created" };
      } catch (err) {
        // Another replica created it between our info and add: read it again.
        if (attempt === 0 && err instanceof JetStreamApiError) continue;
        throw err;
      }
    }
    if (current.config.storage !== StorageType.File)
      throw new BusConfigError(
        `stream ${EPOCH_STREAM} uses ${current.config.storage} storage; file storage cannot be set by an update, recreate it`,
      );
    const drift = streamDrift(current.config, wanted);
    if (drift.length === 0) return { info: current, action: "unchanged" };
    return { info: await jsm.streams.update(EPOCH_STREAM, { ...current.config, ...wanted }), action: "updated" };
  }
}

export interface PublishResult {
  seq: number;
  duplicate: boolean;
}

/** Publishes one epoch with its message id; a replay within the duplicate window is acknowledged as duplicate. */
export async function publishEpoch(
  js: JetStreamClient,
  metrics: EpochMetrics,
  options: { timeoutMs?: number } = {},
): Promise<PublishResult> {
  const data = encodeEpochMetrics(metrics);
  const ack = await js.publish(epochSubject(metrics), data, {
    msgID: epochMessageId(metrics),
    expect: { streamName: EPOCH_STREAM },
    ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
  });
  return { seq: ack.seq, duplicate: ack.duplicate };
}

/** Fire-and-forget heartbeat on core NATS. */
export function publishHeartbeat(nc: NatsConnection, heartbeat: Heartbeat): void {
  nc.publish(heartbeatSubject(heartbeat), encodeHeartbeat(heartbeat));
}

export interface EpochConsumerOptions {
  /** Unacknowledged messages in flight at most (flow control of a slow controller). */
  maxAckPending?: number;
  /** Redelivery after this long without an ack. */
  ackWaitMs?: number;
  filterSubject?: string;
}

/** Creates or updates the durable pull consumer on the epoch stream; idempotent. */
export async function ensureEpochConsumer(
  jsm: JetStreamManager,
  durable: string,
  options: EpochConsumerOptions = {},
): Promise<void> {
  const config = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: options.filterSubject ?? ALL_EPOCHS,
    max_ack_pending: options.maxAckPending ?? 1000,
    ack_wait: nanos(options.ackWaitMs ?? 30_000),
  };
  try {
    const info = await jsm.consumers.info(EPOCH_STREAM, durable);
    const same =
      info.config.filter_subject === config.filter_subject &&
      info.config.max_ack_pending === config.max_ack_pending &&
      info.config.ack_wait === config.ack_wait;
    if (!same)
      await jsm.consumers.update(EPOCH_STREAM, durable, {
        max_ack_pending: config.max_ack_pending,
        ack_wait: config.ack_wait,
        filter_subject: config.filter_subject,
      });
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    await jsm.consumers.add(EPOCH_STREAM, config);
  }
}

export interface DeliveryMeta {
  subject: string;
  streamSequence: number;
  deliveryCount: number;
  redelivered: boolean;
  msgId: string | undefined;
}

export interface ConsumeEpochOptions {
  /** A message that does not decode: counted by the caller, terminated (never redelivered). */
  onMalformed?: (reason: DecodeReason, detail: string, meta: DeliveryMeta) => void;
  /** The handler threw: the message is redelivered after nakDelayMs. */
  onHandlerError?: (err: unknown, meta: DeliveryMeta) => void;
  nakDelayMs?: number;
  /** Messages pulled per request. */
  batch?: number;
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

/**
 * Feeds every epoch of the durable consumer to `handler`, one at a time, in stream order,
 * acknowledging each after the handler returned; stops when `signal` aborts. The consumer
 * must exist (ensureEpochConsumer). Unacknowledged messages are redelivered, so the handler
 * must be idempotent (the message id is in `meta`).
 */
export async function consumeEpochs(
  js: JetStreamClient,
  durable: string,
  handler: (metrics: EpochMetrics, meta: DeliveryMeta) => void | Promise<void>,
  signal: AbortSignal,
  options: ConsumeEpochOptions = {},
): Promise<void> {
  if (signal.aborted) return;
  const consumer = await js.consumers.get(EPOCH_STREAM, durable);
  const messages = await consumer.consume({ max_messages: options.batch ?? 256 });
  const stop = (): void => void messages.stop();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of messages) {
      const meta = metaOf(m);
      const decoded = decodeEpochMessage(m.subject, m.data);
      if (!decoded.ok) {
        options.onMalformed?.(decoded.reason, decoded.detail, meta);
        // No reason text: nats-server 2.9 only understands a bare +TERM.
        m.term();
        continue;
      }
      try {
        await handler(decoded.value, meta);
        m.ack();
      } catch (err) {
        options.onHandlerError?.(err, meta);
        m.nak(options.nakDelayMs ?? 1000);
      }
      if (signal.aborted) break;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    await messages.close().catch(() => undefined);
  }
}

/**
 * Reads every stored epoch on `filter` (one fold's subject, or a run's wildcard) in stream
 * order through an ephemeral ordered consumer and returns once it reached the end. For
 * rebuilding per-fold state after a restart: acknowledged messages of the durable consumer
 * are not delivered again, but they are still in the stream.
 */
export async function replayEpochs(
  js: JetStreamClient,
  filter: string,
  handler: (metrics: EpochMetrics, meta: DeliveryMeta) => void | Promise<void>,
  options: { signal?: AbortSignal; onMalformed?: ConsumeEpochOptions["onMalformed"] } = {},
): Promise<number> {
  const consumer = await js.consumers.get(EPOCH_STREAM, { filter_subjects: filter, deliver_policy: DeliverPolicy.All });
  if ((await consumer.info()).num_pending === 0) return 0;
  const messages = await consumer.consume({ max_messages: 256 });
  let delivered = 0;
  try {
    for await (const m of messages) {
      const meta = metaOf(m);
      const decoded = decodeEpochMessage(m.subject, m.data);
      if (decoded.ok) {
        await handler(decoded.value, meta);
        delivered += 1;
      } else {
        options.onMalformed?.(decoded.reason, decoded.detail, meta);
      }
      if (m.info.pending === 0 || options.signal?.aborted) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  return delivered;
}

/** Deletes every stored epoch of one run (early-stop, once the run is gone); returns how many. */
export async function purgeRunSubjects(jsm: JetStreamManager, namespace: string, run: string): Promise<number> {
  try {
    const response = await jsm.streams.purge(EPOCH_STREAM, { filter: runEpochsFilter(namespace, run) });
    return response.purged;
  } catch (err) {
    if (isNotFound(err, JetStreamApiCodes.StreamNotFound)) return 0;
    throw err;
  }
}

/**
 * The runs that have epochs in the stream, as `namespace/run` (subjects that do not parse
 * are left out): what early-stop's sweep compares with the TrainingRuns that exist.
 */
export async function runsWithStoredEpochs(jsm: JetStreamManager): Promise<Array<{ namespace: string; run: string }>> {
  let subjects: Record<string, number>;
  try {
    subjects = (await jsm.streams.info(EPOCH_STREAM, { subjects_filter: ALL_EPOCHS })).state.subjects ?? {};
  } catch (err) {
    if (isNotFound(err, JetStreamApiCodes.StreamNotFound)) return [];
    throw err;
  }
  const runs = new Map<string, { namespace: string; run: string }>();
  for (const subject of Object.keys(subjects)) {
    const address = parseEpochSubject(subject);
    if (address.ok) runs.set(`${address.value.namespace}/${address.value.run}`, address.value);
  }
  return [...runs.values()].map(({ namespace, run }) => ({ namespace, run }));
}
