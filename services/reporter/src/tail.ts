import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";

// Tails nnU-Net's training log in a fold's output folder. nnU-Net opens a new
// training_log_<date>.txt on every start, so the newest one is followed and a newer one that
// appears (a resume) is switched to; the folder or the file may not exist yet. Only complete
// lines are handed out: a line still being written stays buffered until its newline.

export const LOG_FILE = /^training_log_(\d+)_(\d+)_(\d+)_(\d+)_(\d+)_(\d+)\.txt$/;

export type TailEvent =
  /**
   * Lines that follow come from this file; `newest` is false while older files are replayed.
   * `preexisting`: the file was already there at the tail's first look at the folder.
   */
  | { readonly kind: "file"; readonly path: string; readonly newest: boolean; readonly preexisting: boolean }
  | { readonly kind: "line"; readonly path: string; readonly line: string }
  /** Everything the newest file held at its first read has been handed out; later lines are new. */
  | { readonly kind: "synced"; readonly path: string };

export interface TailOptions {
  readonly dir: string;
  /** Poll interval while waiting for new data or a new file. */
  readonly pollMs?: number;
  /** Injected delay (a fake clock in tests); resolves early when the signal aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Replay the older log files (in order) before the newest, to rebuild parser state. */
  readonly includeOlder?: boolean;
  readonly chunkBytes?: number;
}

export interface LogFileEntry {
  readonly name: string;
  readonly mtimeMs: number;
}

/**
 * Log files in start order. nnU-Net writes the date unpadded (training_log_2021_6_9_...), so
 * names are compared as numbers, not as text; the modification time breaks ties.
 */
export function orderLogFiles(entries: readonly LogFileEntry[]): LogFileEntry[] {
  const key = (e: LogFileEntry) => (LOG_FILE.exec(e.name) ?? []).slice(1).map(Number);
  return entries
    .filter((e) => LOG_FILE.test(e.name))
    .sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return (ka[i] ?? 0) - (kb[i] ?? 0);
      return a.mtimeMs - b.mtimeMs;
    });
}

/** Splits a stream of text into complete lines; the unfinished tail waits for more text. */
export class LineBuffer {
  #partial = "";

  push(text: string): string[] {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop() ?? "";
    return parts.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  }

  /** The unfinished line, if any (dropped when its writer is gone). */
  get pending(): string {
    return this.#partial;
  }

  reset(): void {
    this.#partial = "";
  }
}

const realSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

async function listLogFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const entries: LogFileEntry[] = [];
  for (const name of names.filter((n) => LOG_FILE.test(n))) {
    try {
      entries.push({ name, mtimeMs: (await stat(join(dir, name))).mtimeMs });
    } catch {
      // removed between readdir and stat: not a candidate
    }
  }
  return orderLogFiles(entries).map((e) => join(dir, e.name));
}

/** One followed file: its read offset, decoder (UTF-8 split across reads) and line buffer. */
class FollowedFile {
  offset = 0;
  synced = false;
  readonly #decoder = new StringDecoder("utf8");
  readonly lines = new LineBuffer();

  constructor(readonly path: string) {}

  /** Reads what was appended since the last call; restarts when the file was truncated. */
  async readNew(chunkBytes: number): Promise<string[]> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch {
      return [];
    }
    if (size < this.offset) {
      this.offset = 0;
      this.lines.reset();
    }
    if (size === this.offset) return [];
    const out: string[] = [];
    const handle = await open(this.path, "r");
    try {
      const buf = Buffer.alloc(chunkBytes);
      while (this.offset < size) {
        const { bytesRead } = await handle.read(buf, 0, Math.min(chunkBytes, size - this.offset), this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        out.push(...this.lines.push(this.#decoder.write(buf.subarray(0, bytesRead))));
      }
    } finally {
      await handle.close();
    }
    return out;
  }
}

/** Follows the newest training log of `dir` until `signal` aborts. */
export async function* tailTrainingLog(options: TailOptions, signal: AbortSignal): AsyncGenerator<TailEvent> {
  const pollMs = options.pollMs ?? 500;
  const sleep = options.sleep ?? realSleep;
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  let current: FollowedFile | undefined;
  let first = true;
  let initial: ReadonlySet<string> | undefined;
  while (!signal.aborted) {
    const files = await listLogFiles(options.dir);
    initial ??= new Set(files);
    const newest = files.at(-1);
    if (newest !== undefined && newest !== current?.path) {
      // Finish what the previous file still had before moving on.
      if (current !== undefined)
        for (const line of await current.readNew(chunkBytes)) yield { kind: "line", path: current.path, line };
      if (first && options.includeOlder !== false) {
        for (const older of files.slice(0, -1)) {
          yield { kind: "file", path: older, newest: false, preexisting: initial.has(older) };
          const f = new FollowedFile(older);
          for (const line of await f.readNew(chunkBytes)) yield { kind: "line", path: older, line };
        }
      }
      current = new FollowedFile(newest);
      yield { kind: "file", path: newest, newest: true, preexisting: initial.has(newest) };
    }
    first = first && newest === undefined;
    if (current !== undefined) {
      for (const line of await current.readNew(chunkBytes)) yield { kind: "line", path: current.path, line };
      if (!current.synced) {
        current.synced = true;
        yield { kind: "synced", path: current.path };
      }
    }
    await sleep(pollMs, signal);
  }
}
