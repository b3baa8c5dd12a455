import { type FSWatcher, watch } from "node:fs";
import type { Sleep } from "./publish.js";

// Cuts the tail's poll wait short when something in the fold folder changes (inotify through
// fs.watch), so an epoch's last line reaches the stream in milliseconds instead of half a poll
// interval. Polling stays the fallback and the truth: fs.watch misses events on network file
// systems (NFS, many CSI volumes), and the folder may not exist yet; the watch is (re)tried on
// every wait until it holds.

export class FolderWakeup {
  #watcher: FSWatcher | undefined;
  #changed = false;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(
    readonly dir: string,
    private readonly baseSleep: Sleep,
  ) {}

  /** True while a watch is in place. */
  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  #ensure(): void {
    if (this.#watcher !== undefined || this.#closed) return;
    try {
      const w = watch(this.dir, { persistent: false }, () => this.#fire());
      w.on("error", () => {
        w.close();
        if (this.#watcher === w) this.#watcher = undefined;
      });
      this.#watcher = w;
    } catch {
      // The folder is not there yet (or cannot be watched): poll and try again next time.
    }
  }

  #fire(): void {
    this.#changed = true;
    this.#wake?.();
  }

  /** A Sleep that also ends at the next change in the folder (or at once if one came since the last). */
  readonly sleep: Sleep = async (ms, signal) => {
    this.#ensure();
    if (this.#changed) {
      this.#changed = false;
      return;
    }
    const local = new AbortController();
    const onAbort = (): void => local.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.#wake = onAbort;
    try {
      await this.baseSleep(ms, local.signal);
    } finally {
      this.#wake = undefined;
      this.#changed = false;
      signal.removeEventListener("abort", onAbort);
    }
  };

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
