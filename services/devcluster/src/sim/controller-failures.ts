import { type QueueFailure, type QueueReporter, stderrReporter } from "./key-queue.js";

// The cluster-wide reporter of every in-process controller queue (job-controller, kubelet,
// the workload controllers...): each failure still goes to the structured log line, and
// is also kept (bounded) and counted per queue, so a test harness can fail on a reconcile
// that broke in the background instead of timing out somewhere else.

export interface ControllerFailure {
  queue: string;
  key: string;
  attempt: number;
  expected: boolean;
  message: string;
  /** When it failed (wall clock, RFC 3339 with milliseconds). */
  at: string;
}

export interface ControllerFailureCount {
  queue: string;
  expected: boolean;
  count: number;
}

const messageOf = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : `thrown: ${String(error)}`;

export class ControllerFailureLog implements QueueReporter {
  // Expected failures (conflicts) can come in bursts: they get their own ring so that
  // they never push the unexpected ones out.
  private readonly kept = {
    expected: [] as (ControllerFailure & { seq: number })[],
    unexpected: [] as (ControllerFailure & { seq: number })[],
  };
  private readonly totals = new Map<string, ControllerFailureCount>();
  private seq = 0;

  constructor(
    private readonly sink: QueueReporter = stderrReporter,
    /** Failures kept per kind (expected, unexpected); the counts are never bounded. */
    private readonly limit = 200,
  ) {}

  failed(failure: QueueFailure): void {
    this.sink.failed(failure);
    const { queue, key, attempt, expected, error } = failure;
    const ring = expected ? this.kept.expected : this.kept.unexpected;
    ring.push({
      queue,
      key,
      attempt,
      expected,
      message: messageOf(error),
      at: new Date().toISOString(),
      seq: this.seq++,
    });
    if (ring.length > this.limit) ring.shift();
    const id = `${queue}\u0000${expected}`;
    const total = this.totals.get(id) ?? { queue, expected, count: 0 };
    total.count++;
    this.totals.set(id, total);
  }

  /** The failures kept, oldest first. */
  list(): ControllerFailure[] {
    return [...this.kept.expected, ...this.kept.unexpected].sort((a, b) => a.seq - b.seq).map(({ seq: _, ...f }) => f);
  }

  /** Every failure counted per queue and kind, sorted by queue. */
  counts(): ControllerFailureCount[] {
    return [...this.totals.values()]
      .map((c) => ({ ...c }))
      .sort((a, b) => a.queue.localeCompare(b.queue) || Number(a.expected) - Number(b.expected));
  }
}

/** A harness found controller failures that were neither conflicts nor objects gone meanwhile. */
export class UnexpectedControllerFailuresError extends Error {
  override readonly name = "UnexpectedControllerFailuresError";
  constructor(
    readonly failures: ControllerFailure[],
    readonly total: number,
  ) {
    // A key retried with backoff fails many times alike: one line per queue and key, its last message.
    const byKey = new Map<string, { last: ControllerFailure; times: number }>();
    for (const f of failures) {
      const id = `${f.queue} ${f.key}`;
      byKey.set(id, { last: f, times: (byKey.get(id)?.times ?? 0) + 1 });
    }
    const lines = [...byKey].map(
      ([id, { last, times }]) => `  ${id} (${times}x, last attempt ${last.attempt}): ${last.message}`,
    );
    const shown = failures.length < total ? ` (the last ${failures.length} kept)` : "";
    super(`${total} unexpected devcluster controller failure(s)${shown}:\n${lines.join("\n")}`);
  }
}

/** Throws UnexpectedControllerFailuresError when any queue counted an unexpected failure. */
export function assertNoUnexpectedFailures(source: {
  controllerFailures(): ControllerFailure[];
  controllerFailureCounts(): ControllerFailureCount[];
}): void {
  const total = source
    .controllerFailureCounts()
    .filter((c) => !c.expected)
    .reduce((n, c) => n + c.count, 0);
  if (total === 0) return;
  throw new UnexpectedControllerFailuresError(
    source.controllerFailures().filter((f) => !f.expected),
    total,
  );
}
