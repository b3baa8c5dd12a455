import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EpochMetricsInput, Heartbeat } from "@nnunet-operator/api";
import {
  EPOCH_STREAM,
  connectBus,
  decodeEpochMessage,
  encodeEpochMetrics,
  epochSubject,
  type FoldAddress,
  foldInboxPrefix,
  publishHeartbeat,
} from "@nnunet-operator/bus";
import type { ReporterIdentity } from "./epoch-message.js";
import type { EpochBusPort, Sleep } from "./publish.js";

// The reporter's adapter over NATS: connects in the background (a sidecar starts before NATS
// may be reachable, and must tail and buffer meanwhile), tracks whether the connection is
// up, and refuses publishes at once while it is down, so the publisher's retry loop does not
// pile copies into the client's reconnect buffer. Holds no rules.

export class BusUnavailableError extends Error {
  override readonly name = "BusUnavailableError";
  readonly retryable = true;
}

/** The stream could not say where this attempt left off (no permission, a timeout): publish everything. */
export class ResumeLookupError extends Error {
  override readonly name = "ResumeLookupError";
  readonly retryable = false;
}

export interface BusLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface NatsReporterBusOptions {
  readonly servers: string[];
  /** Connection name shown by the server's monitoring. */
  readonly name: string;
  readonly credsFile?: string | undefined;
  readonly tlsCaFile?: string | undefined;
  /** The fold this reporter publishes for: its user may read replies only under the fold's inbox prefix. */
  readonly fold: FoldAddress;
  /** How long one publish waits for its JetStream ack. */
  readonly publishTimeoutMs?: number;
  readonly reconnectTimeWaitMs?: number;
  readonly logger: BusLogger;
  readonly sleep: Sleep;
  /** Called when the connection comes (back) up: the publisher retries at once. */
  readonly onUp?: () => void;
  /** Answers requests on one subject (the fold's decision subject), from the first connect on. */
  readonly responder?: { readonly subject: string; readonly answer: (data: Uint8Array) => Promise<Uint8Array> };
}

export class NatsReporterBus implements EpochBusPort {
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;
  #up = false;

  constructor(readonly options: NatsReporterBusOptions) {}

  get connected(): boolean {
    return this.#up;
  }

  /**
   * Connects, retrying until it succeeds or `signal` aborts (nats.js then reconnects by
   * itself, forever). Resolves when connected or aborted; never rejects.
   */
  async start(signal: AbortSignal): Promise<void> {
    const { logger, sleep } = this.options;
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        const nc = await connectBus({
          servers: this.options.servers,
          name: this.options.name,
          credsFile: this.options.credsFile,
          tlsCaFile: this.options.tlsCaFile,
          inboxPrefix: foldInboxPrefix(this.options.fold),
          waitOnFirstConnect: true,
          reconnectTimeWaitMs: this.options.reconnectTimeWaitMs ?? 1000,
        });
        if (signal.aborted) {
          await nc.close();
          return;
        }
        this.#attach(nc);
        logger.info({ server: nc.getServer() }, "connected to NATS");
        return;
      } catch (err) {
        logger.warn({ err, attempt }, "cannot connect to NATS; retrying");
        await sleep(Math.min(10_000, 500 * attempt), signal);
      }
    }
  }

  #attach(nc: NatsConnection): void {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.#up = true;
    const responder = this.options.responder;
    if (responder !== undefined) {
      // A core subscription survives reconnects (nats.js resubscribes); each request gets one answer.
      const sub = nc.subscribe(responder.subject);
      void (async () => {
        for await (const m of sub) {
          const reply = await responder
            .answer(m.data)
            .catch((err: unknown) =>
              new TextEncoder().encode(JSON.stringify({ schemaVersion: 1, kept: false, error: String(err) })),
            );
          m.respond(reply);
        }
      })().catch((err: unknown) => this.options.logger.warn({ err }, "decision subscription ended"));
    }
    this.options.onUp?.();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") {
          this.#up = false;
          this.options.logger.warn({ server: s.server }, "NATS disconnected; buffering epochs");
        } else if (s.type === "reconnect") {
          this.#up = true;
          this.options.logger.info({ server: s.server }, "NATS reconnected");
          this.options.onUp?.();
        }
      }
    })().catch(() => undefined);
  }

  async publish(message: EpochMetricsInput, msgId: string): Promise<{ duplicate: boolean }> {
    const js = this.#js;
    if (!this.#up || js === undefined) throw new BusUnavailableError("NATS is not connected");
    const ack = await js.publish(epochSubject(message), encodeEpochMetrics(message), {
      msgID: msgId,
      expect: { streamName: EPOCH_STREAM },
      timeout: this.options.publishTimeoutMs ?? 2000,
    });
    return { duplicate: ack.duplicate };
  }

  /**
   * The last epoch the stream holds on this fold's subject if it is from the same run uid and
   * attempt. A direct get with the subject in the API subject, which the fold's user may
   * send for its own subject only (no one else's last epoch, no run uid); any failure but a down connection is a
   * ResumeLookupError (terminal: the publisher then simply re-publishes, which is safe).
   */
  async lastStoredEpoch(identity: ReporterIdentity): Promise<number | undefined> {
    const nc = this.#nc;
    if (!this.#up || nc === undefined) throw new BusUnavailableError("NATS is not connected");
    let stored: Awaited<ReturnType<JetStreamManager["direct"]["getMessage"]>>;
    try {
      this.#jsm ??= await jetstreamManager(nc, { checkAPI: false, timeout: this.options.publishTimeoutMs ?? 2000 });
      stored = await this.#jsm.direct.getMessage(EPOCH_STREAM, { last_by_subj: epochSubject(identity) });
    } catch (cause) {
      throw new ResumeLookupError("cannot read the fold's last stored epoch", { cause });
    }
    if (stored === null) return undefined;
    const decoded = decodeEpochMessage(stored.subject, stored.data);
    if (!decoded.ok) return undefined;
    const last = decoded.value;
    return last.runUid === identity.runUid && last.attempt === identity.attempt ? last.epoch : undefined;
  }

  /** Core NATS, fire and forget; false when not connected (a heartbeat is not worth buffering). */
  heartbeat(heartbeat: Heartbeat): boolean {
    const nc = this.#nc;
    if (!this.#up || nc === undefined) return false;
    publishHeartbeat(nc, heartbeat);
    return true;
  }

  /** Drains the connection (flushes what was sent), bounded by `timeoutMs`, then closes it. */
  async drain(timeoutMs: number): Promise<void> {
    const nc = this.#nc;
    this.#up = false;
    if (nc === undefined || nc.isClosed()) return;
    const timer = new AbortController();
    try {
      await Promise.race([
        nc.isDraining() ? nc.closed() : nc.drain().catch(() => undefined),
        this.options.sleep(timeoutMs, timer.signal),
      ]);
    } finally {
      timer.abort();
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
  }
}
