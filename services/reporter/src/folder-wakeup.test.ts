import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { realSleep } from "./clock.js";
import { FolderWakeup } from "./folder-wakeup.js";

// Real folders and inotify: a long poll wait ends as soon as the trainer writes.

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), "wakeup-"));
    try {
      await fn(join(root, "fold_0"));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

async function timed(p: Promise<void>): Promise<number> {
  const t = performance.now();
  await p;
  return performance.now() - t;
}

describe("FolderWakeup", () => {
  it(
    "a write in the folder ends a 10 s wait within moments",
    withDir(async (dir) => {
      mkdirSync(dir);
      writeFileSync(join(dir, "training_log_2024_1_1_0_0_0.txt"), "");
      const w = new FolderWakeup(dir, realSleep);
      const abort = new AbortController();
      const waiting = timed(w.sleep(10_000, abort.signal));
      assert.ok(w.watching);
      setTimeout(() => appendFileSync(join(dir, "training_log_2024_1_1_0_0_0.txt"), "Epoch 0\n"), 20);
      assert.ok((await waiting) < 2000);
      w.close();
    }),
  );

  it(
    "a change between waits makes the next wait return at once",
    withDir(async (dir) => {
      mkdirSync(dir);
      const w = new FolderWakeup(dir, realSleep);
      const abort = new AbortController();
      await w.sleep(1, abort.signal);
      writeFileSync(join(dir, "training_log_2024_1_1_0_0_0.txt"), "x\n");
      await new Promise((r) => setTimeout(r, 100));
      assert.ok((await timed(w.sleep(10_000, abort.signal))) < 50);
      w.close();
    }),
  );

  it(
    "without the folder it falls back to the plain wait, and watches once the folder appears",
    withDir(async (dir) => {
      const w = new FolderWakeup(dir, realSleep);
      const abort = new AbortController();
      assert.ok((await timed(w.sleep(60, abort.signal))) >= 50);
      assert.equal(w.watching, false);
      mkdirSync(dir);
      const waiting = timed(w.sleep(10_000, abort.signal));
      assert.ok(w.watching);
      setTimeout(() => writeFileSync(join(dir, "a.txt"), "x"), 20);
      assert.ok((await waiting) < 2000);
      w.close();
    }),
  );

  it(
    "an abort ends the wait",
    withDir(async (dir) => {
      mkdirSync(dir);
      const w = new FolderWakeup(dir, realSleep);
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 20);
      assert.ok((await timed(w.sleep(10_000, abort.signal))) < 2000);
      w.close();
    }),
  );
});
