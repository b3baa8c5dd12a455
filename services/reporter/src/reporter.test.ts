import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Heartbeat } from "@nnunet-operator/api";
import { EpochPublisher } from "./publish.js";
import { Reporter } from "./reporter.js";
import type { TailEvent } from "./tail.js";
import { FakeBus, FakeClock, settle } from "./testing.js";

// The reporter's event handling without files or NATS: tail events in, bus calls out.

const identity = { namespace: "team-a", run: "liver", runUid: "uid-1", fold: "0", attempt: 2 };

function epochLines(n: number, dice = "0.7643"): string[] {
  const t = `2023-11-29 19:${String(20 + n).padStart(2, "0")}:00.000000`;
  return [
    `${t}: Epoch ${n} `,
    `${t}: Current learning rate: 0.01 `,
    `${t}: train_loss -0.3342 `,
    `${t}: val_loss -0.548 `,
    `${t}: Pseudo dice [${dice}] `,
    `${t}: Epoch time: 140.07 s `,
  ];
}

function setup(options: { folderExists?: boolean } = {}) {
  const clock = new FakeClock();
  const bus = new FakeBus();
  const publisher = new EpochPublisher({ bus, maxBuffered: 100, sleep: clock.sleep });
  let skipped = 0;
  const heartbeats: Heartbeat[] = [];
  const warnings: string[] = [];
  const reporter = new Reporter({
    identity,
    foldDir: "/nnunet/results/D/T__P__2d/fold_0",
    pollMs: 500,
    heartbeatMs: 10_000,
    statsMs: 60_000,
    publisher,
    heartbeat: (hb) => (heartbeats.push(hb), true),
    counters: { skippedLines: { inc: (n = 1) => void (skipped += n) } },
    logger: { info: () => undefined, debug: () => undefined, warn: (_f, m) => void warnings.push(m) },
    now: () => new Date(Date.UTC(2026, 0, 1) + clock.now),
    sleep: clock.sleep,
    folderExists: async () => options.folderExists ?? false,
  });
  const feed = (path: string, lines: string[]) =>
    lines.forEach((line) => reporter.handle({ kind: "line", path, line }));
  const event = (e: TailEvent) => reporter.handle(e);
  return { clock, bus, publisher, reporter, heartbeats, warnings, feed, event, skipped: () => skipped };
}

describe("Reporter", () => {
  it("turns a new trainer's log into one message per epoch with this pod's attempt in the id", async () => {
    const { bus, feed, event, reporter } = setup();
    event({ kind: "file", path: "/f/training_log_2023_11_29_19_18_29.txt", newest: true, preexisting: false });
    feed("/f/training_log_2023_11_29_19_18_29.txt", [...epochLines(0), ...epochLines(1)]);
    await settle();
    assert.deepEqual(bus.stored, ["uid-1/0/2/0", "uid-1/0/2/1"]);
    assert.equal(reporter.state.lastEpoch, 1);
  });

  it("counts a garbled line as skipped and keeps going", async () => {
    const { bus, feed, event, skipped, reporter } = setup();
    event({ kind: "file", path: "/f/a", newest: true, preexisting: false });
    const lines = epochLines(0);
    lines[4] = "2023-11-29 19:20:00.000000: Pseudo dice [0.76\u0000#";
    feed("/f/a", [...lines, "\u0000\u0000garbage", ...epochLines(1)]);
    await settle();
    assert.equal(skipped(), 1);
    assert.equal(reporter.state.skippedLines, 1);
    assert.deepEqual(bus.stored, ["uid-1/0/2/0", "uid-1/0/2/1"]);
  });

  it("never publishes a preexisting log until it grows", async () => {
    const { bus, feed, event, reporter } = setup();
    event({ kind: "file", path: "/f/a", newest: true, preexisting: true });
    feed("/f/a", epochLines(0));
    event({ kind: "synced", path: "/f/a" });
    await settle();
    assert.deepEqual(bus.stored, []);
    assert.equal(reporter.buildHeartbeat().lastEpoch, undefined, "a held log's epochs are not this trainer's");
    feed("/f/a", epochLines(1).slice(0, 1));
    await settle();
    assert.deepEqual(bus.stored, ["uid-1/0/2/0"]);
  });

  it("heartbeats carry the last epoch, the log file and the buffered count", () => {
    const { feed, event, reporter } = setup();
    event({ kind: "file", path: "/f/a", newest: true, preexisting: false });
    feed("/f/a", epochLines(0));
    const hb = reporter.buildHeartbeat();
    assert.deepEqual(
      { ...hb, sentAt: undefined },
      { schemaVersion: 1, ...identity, sentAt: undefined, lastEpoch: 0, logFile: "/f/a", buffered: 1 },
    );
  });

  it("the trainer counts as alive while its log advances or its folder exists, and not otherwise", async () => {
    const quiet = setup({ folderExists: false });
    assert.equal(await quiet.reporter.trainerAlive(), false, "no folder, no lines");
    quiet.event({ kind: "file", path: "/f/a", newest: true, preexisting: false });
    quiet.feed("/f/a", ["x"]);
    assert.equal(await quiet.reporter.trainerAlive(), true, "the log just advanced");
    await quiet.clock.advance(20_000);
    assert.equal(await quiet.reporter.trainerAlive(), false, "silent for two heartbeat periods, folder gone");
    assert.equal(await setup({ folderExists: true }).reporter.trainerAlive(), true, "the fold folder exists");
  });

  it("heartbeats every period while alive, none while not, until aborted", async () => {
    const { clock, reporter, heartbeats } = setup({ folderExists: true });
    const abort = new AbortController();
    const done = reporter.run(abort.signal);
    await clock.advance(10_000);
    await clock.advance(10_000);
    abort.abort();
    await done;
    assert.equal(heartbeats.length, 3);
    const silent = setup({ folderExists: false });
    const abort2 = new AbortController();
    const done2 = silent.reporter.run(abort2.signal);
    await silent.clock.advance(10_000);
    abort2.abort();
    await done2;
    assert.equal(silent.heartbeats.length, 0);
  });
});

describe("Reporter when the fold folder cannot be read", () => {
  it("a failing tail is logged and started over; the loop never throws", async () => {
    const root = mkdtempSync(join(tmpdir(), "reporter-notdir-"));
    try {
      // A file where the folder should be: readdir fails with ENOTDIR on every look.
      const notDir = join(root, "fold_0");
      writeFileSync(notDir, "");
      const clock = new FakeClock();
      const warnings: string[] = [];
      const reporter = new Reporter({
        identity,
        foldDir: notDir,
        pollMs: 500,
        heartbeatMs: 10_000,
        statsMs: 60_000,
        publisher: new EpochPublisher({ bus: new FakeBus(), maxBuffered: 10, sleep: clock.sleep }),
        heartbeat: () => true,
        counters: { skippedLines: { inc: () => undefined } },
        logger: { info: () => undefined, debug: () => undefined, warn: (_f, m) => void warnings.push(m) },
        now: () => new Date(clock.now),
        sleep: clock.sleep,
        folderExists: async () => false,
      });
      const abort = new AbortController();
      const done = reporter.run(abort.signal);
      // readdir is real I/O, which the fake clock does not wait for: advance, then let the
      // event loop finish the failed look, until two restarts or a bounded number of rounds.
      for (let round = 0; round < 200 && reporter.state.tailRestarts < 2; round++) {
        await clock.advance(500);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      abort.abort();
      await done;
      assert.ok(reporter.state.tailRestarts >= 2, `restarts: ${reporter.state.tailRestarts}`);
      assert.ok(warnings.every((w) => w === "log tail failed; starting it over"));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
