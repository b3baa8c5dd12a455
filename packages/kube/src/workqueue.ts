import { type Clock, type TimerHandle, systemClock } from "./clock.js";

// A keyed, de-duplicating, level-triggered work queue, after client-go's workqueue: the
// queue carries keys, not events, so ten changes to one object before a worker gets to it
// cost one reconcile. A key is never processed by two workers at once; an add that arrives
// while its key is being processed marks it dirty and it runs again afterwards.

export interface BackoffConfig {
  /** Delay after the first failure. */
  baseMs: number;
  /** Ceiling of the exponential growth. */
  maxMs: number;
  /** Relative jitter, 0..1: 0.2 spreads a delay over +-20%. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 100, maxMs: 5 * 60_000, jitter: 0.2 };

/** Delay before retry number `failures` (1 for the first failure). Pure. */
export function computeBackoff(failures: number, config: BackoffConfig, random: () => number = Math.random): number {
  const exponent = Math.max(0, failures - 1);
  // 2^exponent overflows to Infinity long after it passed maxMs; min() handles both.
  const raw = Math.min(config.maxMs, config.baseMs * 2 ** Math.min(exponent, 62));
  const spread = raw * config.jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(config.maxMs, Math.round(raw + spread)));
}

/** Observability hooks; `promWorkQueueMetrics` builds them over a prom-client registry. */
export interface WorkQueueMetrics {
  depth?(depth: number): void;
  added?(): void;
  retried?(): void;
  /** Seconds a key waited between becoming ready and a worker taking it. */
  queueLatency?(seconds: number): void;
  /** Seconds the handler took. */
  workDuration?(seconds: number): void;
}

/** What a handler may ask for after a successful pass (controller-runtime's RequeueAfter). */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing means "done"
export type ProcessResult = void | undefined | { requeueAfterMs: number };
export type ProcessFn = (key: string, signal: AbortSignal) => Promise<ProcessResult>;

export interface WorkQueueOptions {
  concurrency?: number;
  backoff?: BackoffConfig;
  clock?: Clock;
  random?: () => number;
  metrics?: WorkQueueMetrics;
  /**
   * Whether a failed key is retried with backoff. Default: every error except those that say
   * `retryable === false` (KubeApiError and the services' terminal errors do).
   */
  isRetryable?: (err: unknown) => boolean;
  /** Called with every error a handler throws, before the retry decision. */
  onError?: (key: string, err: unknown, retrying: boolean) => void;
}

export function defaultIsRetryable(err: unknown): boolean {
  return !(typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === false);
}

/** A server's hint (KubeApiError.retryAfterMs) of how long to wait, or 0. */
function retryAfterOf(err: unknown): number {
  const hint = typeof err === "object" && err !== null ? (err as { retryAfterMs?: unknown }).retryAfterMs : undefined;
  return typeof hint === "number" && Number.isFinite(hint) && hint > 0 ? hint : 0;
}

export class WorkQueue {
  private readonly ready = new Set<string>(); // insertion order is queue order
  /** Ready keys served before the rest (addFirst), in their own insertion order. */
  private readonly first = new Set<string>();
  private readonly readySince = new Map<string, number>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>(); // added again while processing
  private readonly dirtyFirst = new Set<string>(); // of those, added with addFirst
  private readonly waiting = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  private wakers: Array<() => void> = [];
  private shuttingDown = false;
  private readonly clock: Clock;
  private readonly backoff: BackoffConfig;
  private readonly random: () => number;
  private readonly metrics: WorkQueueMetrics;

  constructor(private readonly options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
    this.metrics = options.metrics ?? {};
  }

  /** Queues `key` unless it is already queued (merged) or being processed (runs again after). */
  add(key: string): void {
    if (this.shuttingDown) return;
    this.metrics.added?.();
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.enqueue(key);
  }

  /**
   * Queues `key` ahead of the keys queued with `add` (behind earlier addFirst keys), or moves
   * it there if it is queued already: work that holds something idle until it runs (a
   * granted admission whose GPUs wait for their Job) should not wait behind a long queue of
   * status refreshes. A key being processed runs again right after, first as well.
   */
  addFirst(key: string): void {
    if (this.shuttingDown) return;
    this.metrics.added?.();
    if (this.processing.has(key)) {
      this.dirty.add(key);
      this.dirtyFirst.add(key);
      return;
    }
    this.enqueue(key);
    this.first.add(key);
  }

  private enqueue(key: string): void {
    if (this.ready.has(key)) return;
    this.ready.add(key);
    this.readySince.set(key, this.clock.now());
    this.metrics.depth?.(this.ready.size);
    this.wakers.shift()?.();
  }

  /** Queues `key` after `delayMs`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + delayMs;
    const existing = this.waiting.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.timer);
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.waiting.set(key, { at, timer });
  }

  /**
   * Queues `key` after its next backoff delay (at least `minDelayMs`, e.g. a server's
   * Retry-After) and counts the failure. Returns the delay.
   */
  addRateLimited(key: string, minDelayMs = 0): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    this.metrics.retried?.();
    const delay = Math.max(minDelayMs, computeBackoff(failures, this.backoff, this.random));
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure count of `key`: its next failure starts at the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys ready and not yet taken by a worker. */
  len(): number {
    return this.ready.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Keys waiting on addAfter/addRateLimited. */
  waitingCount(): number {
    return this.waiting.size;
  }

  /**
   * Runs `concurrency` workers until `signal` aborts. On abort the queue stops accepting keys
   * and drops the queued and delayed ones (a level-triggered controller re-lists on start, so
   * nothing is lost); handlers in flight get the aborted signal and are awaited. Resolves when
   * the last of them returned.
   */
  async run(process: ProcessFn, signal: AbortSignal): Promise<void> {
    const stop = (): void => this.shutdown();
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    const workers = Array.from({ length: Math.max(1, this.options.concurrency ?? 1) }, () =>
      this.worker(process, signal),
    );
    await Promise.all(workers);
    signal.removeEventListener("abort", stop);
  }

  private shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) this.clock.clearTimeout(timer);
    this.waiting.clear();
    this.ready.clear();
    this.first.clear();
    this.readySince.clear();
    this.dirty.clear();
    this.dirtyFirst.clear();
    this.metrics.depth?.(0);
    for (const wake of this.wakers.splice(0)) wake();
  }

  private async worker(process: ProcessFn, signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.next();
      if (key === undefined) return;
      const started = this.clock.now();
      try {
        const result = await process(key, signal);
        this.forget(key);
        if (result && result.requeueAfterMs > 0) this.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        const retrying = (this.options.isRetryable ?? defaultIsRetryable)(err);
        this.options.onError?.(key, err, retrying);
        if (retrying) this.addRateLimited(key, retryAfterOf(err));
        else this.forget(key);
      } finally {
        this.metrics.workDuration?.((this.clock.now() - started) / 1000);
        this.done(key);
      }
    }
  }

  private async next(): Promise<string | undefined> {
    while (this.ready.size === 0) {
      if (this.shuttingDown) return undefined;
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
    const key = (this.first.size > 0 ? this.first : this.ready).values().next().value as string;
    this.ready.delete(key);
    this.first.delete(key);
    this.processing.add(key);
    const since = this.readySince.get(key);
    this.readySince.delete(key);
    if (since !== undefined) this.metrics.queueLatency?.((this.clock.now() - since) / 1000);
    this.metrics.depth?.(this.ready.size);
    return key;
  }

  private done(key: string): void {
    this.processing.delete(key);
    const first = this.dirtyFirst.delete(key);
    if (this.dirty.delete(key) && !this.shuttingDown) {
      this.enqueue(key);
      if (first) this.first.add(key);
    }
  }
}
