import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LineBuffer, orderLogFiles, tailTrainingLog, type TailEvent } from "./tail.js";

// The tail against real temporary folders. The injected sleep is a fake clock: each poll
// waits for the test to call tick(), so every step is deterministic.

class FakeClock {
  readonly waits: number[] = [];
  #wake: (() => void) | undefined;
  readonly sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      this.waits.push(ms);
      this.#wake = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  tick(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
  get waiting(): boolean {
    return this.#wake !== undefined;
  }
}

/** Runs the tail and lets the test step it: poll() runs one poll and returns its events. */
function harness(dir: string, options: { includeOlder?: boolean; chunkBytes?: number } = {}) {
  const clock = new FakeClock();
  const abort = new AbortController();
  const it = tailTrainingLog({ dir, pollMs: 250, sleep: clock.sleep, ...options }, abort.signal);
  const events: TailEvent[] = [];
  let done = false;
  const pump = (async () => {
    for await (const e of it) events.push(e);
    done = true;
  })();
  // Until the tail has finished its poll and sleeps again (fs work runs off the main thread).
  const settle = async () => {
    const deadline = Date.now() + 10_000;
    while (!clock.waiting && !done) {
      if (Date.now() > deadline) throw new Error("the tail did not reach its next poll");
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  return {
    clock,
    async poll(): Promise<TailEvent[]> {
      await settle();
      const from = events.length;
      clock.tick();
      await settle();
      return events.slice(from);
    },
    async first(): Promise<TailEvent[]> {
      await settle();
      return events.splice(0);
    },
    async stop() {
      abort.abort();
      await pump;
      return done;
    },
  };
}

const lines = (es: TailEvent[]) => es.flatMap((e) => (e.kind === "line" ? [e.line] : []));
const files = (es: TailEvent[]) =>
  es.flatMap((e) => (e.kind === "file" ? [`${e.path.split("/").pop()}${e.newest ? "" : " (older)"}`] : []));

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), "tail-"));
    try {
      await fn(join(root, "fold_0"));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

test(
  "waits for the folder and the log file to appear, polling at the configured interval",
  withDir(async (dir) => {
    const t = harness(dir);
    assert.deepEqual(await t.first(), []);
    mkdirSync(dir);
    assert.deepEqual(await t.poll(), []);
    writeFileSync(join(dir, "training_log_2024_1_1_10_00_00.txt"), "Epoch 0\n");
    const es = await t.poll();
    assert.deepEqual(files(es), ["training_log_2024_1_1_10_00_00.txt"]);
    assert.deepEqual(lines(es), ["Epoch 0"]);
    assert.ok(t.clock.waits.every((ms) => ms === 250));
    assert.equal(await t.stop(), true);
  }),
);

test(
  "a half-written line is held back until its newline arrives",
  withDir(async (dir) => {
    mkdirSync(dir);
    const log = join(dir, "training_log_2024_1_1_10_00_00.txt");
    writeFileSync(log, "train_loss -0.5\nval_lo");
    const t = harness(dir);
    assert.deepEqual(lines(await t.first()), ["train_loss -0.5"]);
    appendFileSync(log, "ss -0.6");
    assert.deepEqual(lines(await t.poll()), []);
    appendFileSync(log, "\r\nPseudo dice [0.5]\n");
    assert.deepEqual(lines(await t.poll()), ["val_loss -0.6", "Pseudo dice [0.5]"]);
    await t.stop();
  }),
);

test(
  "a newer log file (a resume) is switched to after the rest of the old one is read",
  withDir(async (dir) => {
    mkdirSync(dir);
    const old = join(dir, "training_log_2024_1_1_9_00_00.txt");
    writeFileSync(old, "Epoch 0\n");
    const t = harness(dir);
    assert.deepEqual(lines(await t.first()), ["Epoch 0"]);
    appendFileSync(old, "Epoch time: 1 s\n");
    writeFileSync(join(dir, "training_log_2024_1_1_10_00_00.txt"), "Epoch 0\n");
    const es = await t.poll();
    assert.deepEqual(
      es.map((e) => (e.kind === "line" ? e.line : `${e.kind} ${e.path.split("/").pop()}`)),
      [
        "Epoch time: 1 s",
        "file training_log_2024_1_1_10_00_00.txt",
        "Epoch 0",
        "synced training_log_2024_1_1_10_00_00.txt",
      ],
    );
    await t.stop();
  }),
);

test(
  "older log files are replayed in start order before the newest is followed",
  withDir(async (dir) => {
    mkdirSync(dir);
    // Unpadded dates: 2021_6_9 started before 2021_6_15 although it sorts after it as text.
    writeFileSync(join(dir, "training_log_2021_6_15_10_00_00.txt"), "b\n");
    writeFileSync(join(dir, "training_log_2021_6_9_10_00_00.txt"), "a\n");
    writeFileSync(join(dir, "progress.png"), "not a log\n");
    const all = harness(dir);
    const es = await all.first();
    assert.deepEqual(files(es), ["training_log_2021_6_9_10_00_00.txt (older)", "training_log_2021_6_15_10_00_00.txt"]);
    assert.deepEqual(lines(es), ["a", "b"]);
    await all.stop();
    const newestOnly = harness(dir, { includeOlder: false });
    assert.deepEqual(lines(await newestOnly.first()), ["b"]);
    await newestOnly.stop();
  }),
);

test(
  "a file truncated under the tail is read again from its start",
  withDir(async (dir) => {
    mkdirSync(dir);
    const log = join(dir, "training_log_2024_1_1_10_00_00.txt");
    writeFileSync(log, "one\ntwo\n");
    const t = harness(dir);
    assert.deepEqual(lines(await t.first()), ["one", "two"]);
    writeFileSync(log, "x\n");
    assert.deepEqual(lines(await t.poll()), ["x"]);
    await t.stop();
  }),
);

test(
  "UTF-8 characters split between reads are decoded whole",
  withDir(async (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, "training_log_2024_1_1_10_00_00.txt"), "Dice é ✓\n");
    const t = harness(dir, { chunkBytes: 3 });
    assert.deepEqual(lines(await t.first()), ["Dice é ✓"]);
    await t.stop();
  }),
);

test("log files are ordered by the date in their name, then by modification time", () => {
  const names = orderLogFiles([
    { name: "training_log_2024_10_1_0_00_00.txt", mtimeMs: 1 },
    { name: "training_log_2024_9_30_23_59_59.txt", mtimeMs: 2 },
    { name: "training_log_2024_9_30_23_59_59.txt", mtimeMs: 0 },
    { name: "checkpoint_best.pth", mtimeMs: 3 },
  ]).map((e) => `${e.name}@${e.mtimeMs}`);
  assert.deepEqual(names, [
    "training_log_2024_9_30_23_59_59.txt@0",
    "training_log_2024_9_30_23_59_59.txt@2",
    "training_log_2024_10_1_0_00_00.txt@1",
  ]);
});

test("the line buffer hands out complete lines only and strips carriage returns", () => {
  const b = new LineBuffer();
  assert.deepEqual(b.push("a\r\nb"), ["a"]);
  assert.equal(b.pending, "b");
  assert.deepEqual(b.push("c\n\n"), ["bc", ""]);
  assert.equal(b.pending, "");
});

test(
  "files there at the first look are marked preexisting, later ones not; synced follows the first read of the newest",
  withDir(async (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, "training_log_2024_1_1_8_00_00.txt"), "Epoch 0\n");
    writeFileSync(join(dir, "training_log_2024_1_1_9_00_00.txt"), "Epoch 1\n");
    const t = harness(dir);
    const marks = (es: TailEvent[]) =>
      es.flatMap((e) =>
        e.kind === "file"
          ? [`file ${e.path.split("/").pop()} newest=${e.newest} preexisting=${e.preexisting}`]
          : e.kind === "synced"
            ? [`synced ${e.path.split("/").pop()}`]
            : [],
      );
    assert.deepEqual(marks(await t.first()), [
      "file training_log_2024_1_1_8_00_00.txt newest=false preexisting=true",
      "file training_log_2024_1_1_9_00_00.txt newest=true preexisting=true",
      "synced training_log_2024_1_1_9_00_00.txt",
    ]);
    appendFileSync(join(dir, "training_log_2024_1_1_9_00_00.txt"), "Epoch 2\n");
    assert.deepEqual(marks(await t.poll()), [], "growth of a synced file brings no new marks");
    writeFileSync(join(dir, "training_log_2024_1_1_10_00_00.txt"), "Epoch 2\n");
    assert.deepEqual(marks(await t.poll()), [
      "file training_log_2024_1_1_10_00_00.txt newest=true preexisting=false",
      "synced training_log_2024_1_1_10_00_00.txt",
    ]);
    await t.stop();
  }),
);
