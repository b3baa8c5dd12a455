// A small keyed work queue for the simulated controllers: a key added while queued is
// queued once, a key is never processed twice at the same time (one worker), a failing
// reconcile is retried with capped exponential backoff, and `addAfter` requeues later
// (deadlines, TTLs). Timers are unref'd so a forgotten queue never holds the process.

export class KeyQueue {
  private readonly queued = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private running = false;
  private stopped = false;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly work: (key: string) => Promise<void>, private readonly maxBackoffMs = 5000) {}

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
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    t.unref();
    this.timers.set(key, t);
  }

  /** Resolves when nothing is queued or running (timers may still be pending). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
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
      } catch {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        this.addAfter(key, Math.min(this.maxBackoffMs, 5 * 2 ** n));
      }
    }
    this.running = false;
    for (const w of this.waiters.splice(0)) w();
  }
}
