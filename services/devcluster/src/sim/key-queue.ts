// A small keyed work queue for the simulated controllers: a key added while queued is
// queued once, a key is never processed twice at the same time (one worker), a failing
// reconcile is retried with capped exponential backoff, and `addAfter` requeues later
// (deadlines, TTLs). Timers are unref'd so a forgotten queue never holds the process.
//
// No failure is swallowed: each one is counted on the queue and handed to its reporter,
// which by default writes a structured line to stderr. An expected failure (a conflict
// with a concurrent writer, an object deleted meanwhile: ApiError 404/409; a create in a
// namespace being deleted) is retried and reported at warn level; any other is
// "unexpected", reported at error level and counted apart, so a test can assert none
// happened (`unexpectedFailures`), or pass `failOnUnexpected` to make `idle()` reject with
// the first one. In a devcluster every queue reports to the cluster's ControllerFailureLog
// (sim/controller-failures.ts), which the test harnesses check after stopping.

export interface QueueFailure {
  queue: string;
  key: string;
  attempt: number;
  expected: boolean;
  error: unknown;
}

export interface QueueReporter {
  failed(failure: QueueFailure): void;
}

export interface KeyQueueOptions {
  /** Names the queue in reports (`job-controller`, `kubelet`). */
  name?: string;
  maxBackoffMs?: number;
  reporter?: QueueReporter;
  /** `idle()` rejects with the first unexpected failure (for tests). */
  failOnUnexpected?: boolean;
}

/**
 * Conflicts and objects gone meanwhile are part of a controller's life; the next pass
 * re-reads. So is a create refused because its namespace is being deleted: upstream
 * controllers (the ReplicaSet controller's `HasStatusCause(err, NamespaceTerminatingCause)`)
 * treat it as nothing to do.
 */
export function isExpectedFailure(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown; details?: { causes?: { reason?: string }[] } } | null;
  if (e?.name !== "ApiError") return false;
  if (e.code === 404 || e.code === 409) return true;
  return e.code === 403 && (e.details?.causes ?? []).some((c) => c.reason === "NamespaceTerminating");
}

/**
 * For a write inside a reconcile whose conflict or vanished object the next pass handles
 * (`.catch(ignoreExpected)`); any other failure still fails the reconcile and is reported.
 */
export function ignoreExpected(error: unknown): undefined {
  if (isExpectedFailure(error)) return undefined;
  throw error;
}

/**
 * For a loop that is not a KeyQueue (the scheduler's bindings, event writes): an expected
 * failure is skipped, any other is reported as unexpected. Returns whether it was expected.
 */
export function reportUnexpected(reporter: QueueReporter, queue: string, key: string, error: unknown, attempt = 1) {
  if (isExpectedFailure(error)) return true;
  reporter.failed({ queue, key, attempt, expected: false, error });
  return false;
}

export const stderrReporter: QueueReporter = {
  failed: ({ queue, key, attempt, expected, error }) => {
    const e =
      error instanceof Error
        ? { name: error.name, message: error.message, stack: error.stack }
        : { message: String(error) };
    process.stderr.write(
      `${JSON.stringify({ level: expected ? "warn" : "error", msg: "reconcile failed", queue, key, attempt, expected, error: e })}\n`,
    );
  },
};

export class KeyQueue {
  private readonly queued = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private running = false;
  private stopped = false;
  private readonly waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly options: Required<Omit<KeyQueueOptions, "reporter">> & { reporter: QueueReporter };
  private firstUnexpected: unknown;
  /** Every failed reconcile so far. */
  failureCount = 0;
  /** Failed reconciles that were not conflicts or vanished objects. */
  unexpectedFailures = 0;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    options: KeyQueueOptions | number = {},
  ) {
    const o = typeof options === "number" ? { maxBackoffMs: options } : options;
    this.options = {
      name: o.name ?? "key-queue",
      maxBackoffMs: o.maxBackoffMs ?? 5000,
      reporter: o.reporter ?? stderrReporter,
      failOnUnexpected: o.failOnUnexpected ?? false,
    };
  }

  add(key: string): void {
    if (this.stopped) return;
    this.queued.add(key);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.drain());
    }
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const old = this.timers.get(key);
    if (old) clearTimeout(old);
    const t = setTimeout(
      () => {
        this.timers.delete(key);
        this.add(key);
      },
      Math.max(0, Math.min(ms, 2 ** 31 - 1)),
    );
    t.unref();
    this.timers.set(key, t);
  }

  /** Resolves when nothing is queued or running (timers may still be pending); see failOnUnexpected. */
  idle(): Promise<void> {
    if (this.options.failOnUnexpected && this.firstUnexpected !== undefined)
      return Promise.reject(this.firstUnexpected);
    if (!this.running) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  stop(): void {
    this.stopped = true;
    this.queued.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async drain(): Promise<void> {
    while (this.queued.size > 0 && !this.stopped) {
      const key = this.queued.values().next().value as string;
      this.queued.delete(key);
      try {
        await this.work(key);
        this.failures.delete(key);
      } catch (error) {
        this.failed(key, error);
      }
    }
    this.running = false;
    const unexpected = this.options.failOnUnexpected ? this.firstUnexpected : undefined;
    for (const w of this.waiters.splice(0)) unexpected === undefined ? w.resolve() : w.reject(unexpected);
  }

  private failed(key: string, error: unknown): void {
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    const expected = isExpectedFailure(error);
    this.failureCount++;
    if (!expected) {
      this.unexpectedFailures++;
      this.firstUnexpected ??= error;
    }
    try {
      this.options.reporter.failed({ queue: this.options.name, key, attempt, expected, error });
    } catch (reportError) {
      // A reporter that throws must not stop the queue; its own failure goes to stderr.
      stderrReporter.failed({ queue: this.options.name, key, attempt, expected: false, error: reportError });
    }
    this.addAfter(key, Math.min(this.options.maxBackoffMs, 5 * 2 ** attempt));
  }
}
