import type { EpochMetricsInput } from "@nnunet-operator/api";
import { epochMessageId } from "@nnunet-operator/bus";
import type { ReporterIdentity } from "./epoch-message.js";

// Publishes epoch messages in log order, one at a time, through a small bus port, with a
// bounded in-memory buffer for the time NATS or JetStream is unreachable. The buffer keeps
// the oldest epochs; past its bound the newest are dropped and counted (a policy needs the
// history in order, and the oldest unpublished epochs are the ones a restart could not
// get back from the stream either). A publish that fails is retried with capped backoff
// until it is acknowledged, and only then is the next one sent, so the stream holds the
// fold's epochs in order. Every message carries the id <runUid>/<fold>/<attempt>/<epoch>:
// a retry whose first try did reach the server, and a whole log re-published after a
// reporter restart, are acknowledged by JetStream as duplicates within its duplicate
// window.
//
// Which layer guarantees that no epoch is counted twice: JetStream's duplicate window is
// minutes long (120 s in our deployments) while a run lasts days, so a reporter restart long
// after an epoch was published stores that epoch a second time. The early-stop controller's
// per-fold state (services/early-stop/src/convergence/fold-state.ts) rejects an epoch at or
// below the last one it holds from the same attempt as Duplicate or OutOfOrder, and it
// rebuilds that state by replaying the stream in order, so the copy changes nothing there
// either. The message id de-duplication, and the publisher asking the stream for the last
// epoch this attempt stored before its first publish (so a restarted reporter sends only what
// is new), are optimisations of stream size; the consumer's per-fold state is the guarantee.
// The reporter's part of the bargain: within one attempt it never publishes two different
// epochs under one id (file-gate.ts), and it publishes in log order.

/** What the publisher needs from the bus: one acknowledged JetStream publish. */
export interface EpochBusPort {
  /** Resolves on the JetStream ack; rejects when NATS or the stream is unreachable. */
  publish(message: EpochMetricsInput, msgId: string): Promise<{ duplicate: boolean }>;
  /**
   * The last epoch the stream already holds from this fold, run uid and attempt (undefined
   * when none or when the bus cannot tell). Asked once per publisher.
   */
  lastStoredEpoch?(identity: ReporterIdentity): Promise<number | undefined>;
}

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface PublisherStats {
  /** Acknowledged by JetStream (duplicates included). */
  published: number;
  /** Acknowledged as a duplicate of a message already stored. */
  duplicates: number;
  /** Dropped because the buffer was full. */
  dropped: number;
  /** Refused for good (an error marked retryable: false, e.g. an invalid message). */
  rejected: number;
  /** Failed tries, each retried. */
  failures: number;
  /** Not sent: the stream already held them from this attempt (a restarted reporter). */
  alreadyStored: number;
}

export interface PublisherEvents {
  published?(epoch: number, duplicate: boolean): void;
  dropped?(epoch: number, buffered: number): void;
  rejected?(epoch: number, error: unknown): void;
  /** A try failed; `consecutive` counts failures since the last success. */
  failed?(epoch: number, error: unknown, consecutive: number, retryInMs: number): void;
  /** The first success after failures. */
  recovered?(afterFailures: number): void;
  /** The stream's last epoch from this attempt, learnt before the first publish; `error` when the bus refused to tell. */
  resumed?(lastStored: number | undefined, error?: unknown): void;
}

export interface PublisherOptions {
  readonly bus: EpochBusPort;
  /** Messages held at most, the one being published included. */
  readonly maxBuffered: number;
  /** Injected delay (a fake clock in tests); must resolve early when its signal aborts. */
  readonly sleep: Sleep;
  /** Whose epochs these are: lets the publisher ask the stream where this attempt left off. */
  readonly identity?: ReporterIdentity;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  readonly events?: PublisherEvents;
}

interface Entry {
  readonly message: EpochMetricsInput;
  readonly id: string;
}

/** Backoff before retry number `n` (1-based): doubling from `initial`, capped at `max`. Pure. */
export function retryDelay(n: number, initial: number, max: number): number {
  return Math.min(max, initial * 2 ** Math.min(30, Math.max(0, n - 1)));
}

function isTerminal(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { retryable?: unknown }).retryable === false;
}

export class EpochPublisher {
  readonly stats: PublisherStats = {
    published: 0,
    duplicates: 0,
    dropped: 0,
    rejected: 0,
    failures: 0,
    alreadyStored: 0,
  };
  /** The last epoch JetStream acknowledged. */
  lastPublishedEpoch: number | undefined;

  readonly #options: PublisherOptions;
  readonly #queue: Entry[] = [];
  #pump: Promise<void> | undefined;
  /** Set and cleared synchronously by the pump, so an epoch queued as it ends starts a new one. */
  #pumping = false;
  #closed = false;
  #wake = new AbortController();
  #idle: (() => void)[] = [];
  #resumeKnown = false;
  #resuming: Promise<void> | undefined;
  #storedThrough: number | undefined;

  constructor(options: PublisherOptions) {
    if (!Number.isInteger(options.maxBuffered) || options.maxBuffered < 1)
      throw new RangeError("maxBuffered must be a positive integer");
    this.#options = options;
  }

  /** Messages not yet acknowledged, the one in flight included. */
  get buffered(): number {
    return this.#queue.length;
  }

  /** Queues one epoch; false when the buffer is full and the epoch was dropped (counted). */
  enqueue(message: EpochMetricsInput): boolean {
    if (this.#closed) return false;
    if (this.#storedThrough !== undefined && message.epoch <= this.#storedThrough) {
      // Stored by this attempt before a restart (the controller would reject it anyway); not
      // queued, so a re-read log does not fill the buffer.
      this.stats.alreadyStored += 1;
      return true;
    }
    if (this.#queue.length >= this.#options.maxBuffered) {
      this.stats.dropped += 1;
      this.#options.events?.dropped?.(message.epoch, this.#queue.length);
      return false;
    }
    this.#queue.push({ message, id: epochMessageId(message) });
    if (!this.#pumping) this.#pump = this.#run();
    return true;
  }

  /** Cuts a retry wait short: the connection is back. */
  wake(): void {
    this.#wake.abort();
  }

  /** Resolves true once the buffer is empty, false when `timeoutMs` passed first. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.#queue.length === 0) return true;
    const timer = new AbortController();
    const emptied = new Promise<boolean>((resolve) => this.#idle.push(() => resolve(true)));
    const timedOut = this.#options.sleep(timeoutMs, timer.signal).then(() => false);
    try {
      return await Promise.race([emptied, timedOut]);
    } finally {
      timer.abort();
    }
  }

  /** Stops publishing (what is buffered stays unpublished); resolves when no publish is in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    this.wake();
    await this.#pump?.catch(() => undefined);
  }

  async #run(): Promise<void> {
    this.#pumping = true;
    try {
      await this.#drain();
    } finally {
      this.#pumping = false;
      if (this.#queue.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #drain(): Promise<void> {
    const { bus, events, sleep } = this.#options;
    const initial = this.#options.retryInitialMs ?? 100;
    const max = this.#options.retryMaxMs ?? 2000;
    let consecutive = 0;
    for (let head = this.#queue[0]; head !== undefined && !this.#closed; head = this.#queue[0]) {
      try {
        if (!this.#resumeKnown) {
          await this.resume();
          continue;
        }
        const { duplicate } = await bus.publish(head.message, head.id);
        this.#queue.shift();
        this.stats.published += 1;
        if (duplicate) this.stats.duplicates += 1;
        this.lastPublishedEpoch = head.message.epoch;
        if (consecutive > 0) events?.recovered?.(consecutive);
        consecutive = 0;
        events?.published?.(head.message.epoch, duplicate);
      } catch (error) {
        if (isTerminal(error)) {
          this.#queue.shift();
          this.stats.rejected += 1;
          events?.rejected?.(head.message.epoch, error);
          continue;
        }
        consecutive += 1;
        this.stats.failures += 1;
        const delay = retryDelay(consecutive, initial, max);
        events?.failed?.(head.message.epoch, error, consecutive, delay);
        // A wake() that came while the try was in flight means: the connection is back now.
        if (!this.#wake.signal.aborted) await sleep(delay, this.#wake.signal);
        if (this.#wake.signal.aborted) this.#wake = new AbortController();
      }
    }
  }

  /**
   * A restarted reporter re-reads its log from the start. Asking the stream where this attempt
   * left off saves sending (and, past the duplicate window, storing) copies, and keeps a
   * re-read log out of the buffer. Main calls it as soon as the bus is up; the pump calls it
   * before its first publish. Resolves when known; rejects on a retryable failure (the
   * connection is down); a terminal one (no permission) gives up on the shortcut.
   */
  resume(): Promise<void> {
    if (this.#resumeKnown) return Promise.resolve();
    this.#resuming ??= this.#learnResumePoint().finally(() => (this.#resuming = undefined));
    return this.#resuming;
  }

  async #learnResumePoint(): Promise<void> {
    const ask = this.#options.bus.lastStoredEpoch;
    const identity = this.#options.identity;
    if (ask === undefined || identity === undefined) {
      this.#resumeKnown = true;
      return;
    }
    let last: number | undefined;
    let refused: unknown;
    try {
      last = await ask.call(this.#options.bus, identity);
    } catch (error) {
      if (!isTerminal(error)) throw error;
      refused = error;
    }
    if (this.#resumeKnown) return;
    this.#storedThrough = last;
    this.#resumeKnown = true;
    if (last !== undefined) {
      const before = this.#queue.length;
      this.#queue.splice(0, this.#queue.length, ...this.#queue.filter((e) => e.message.epoch > last));
      this.stats.alreadyStored += before - this.#queue.length;
    }
    if (refused === undefined) this.#options.events?.resumed?.(last);
    else this.#options.events?.resumed?.(undefined, refused);
  }
}
