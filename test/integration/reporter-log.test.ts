import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import type { Heartbeat } from "@nnunet-operator/api";
import { decodeHeartbeatMessage, heartbeatSubject } from "@nnunet-operator/bus";
import { parseLogText } from "@nnunet-operator/reporter";
import { parseCurveCsv } from "@nnunet-operator/early-stop";
import {
  CHASEDB1_LOG,
  CRF_FOLD2_CSV,
  CRF_FOLD2_LOGS,
  type Identity,
  ReporterProcess,
  ids,
  makeFoldDir,
  range,
  readLines,
  storedCount,
  storedEpochs,
  waitFor,
  writeLog,
  useEpochStream,
} from "./support/reporter-harness.js";

// The reporter's main.ts as a child process against a real nats-server with JetStream,
// fed by real nnU-Net logs that the test writes into the fold folder a few lines at a time.

const limits = { maxAgeMs: 24 * 3600_000, maxBytes: 64 * 1024 * 1024, duplicateWindowMs: 120_000 };

describe("reporter: real logs to JetStream", () => {
  const bus = useEpochStream("reporter-log", limits);

  it("a real log written line by line becomes exactly one message per epoch, in order, with <runUid>/<fold>/<attempt>/<epoch> ids, and heartbeats flow", async () => {
    const who: Identity = { namespace: "team-a", run: "chasedb1", runUid: "uid-chase", fold: "0", attempt: 0 };
    const heartbeats: Heartbeat[] = [];
    const sub = bus.nc.subscribe(heartbeatSubject(who));
    void (async () => {
      for await (const m of sub) {
        const d = decodeHeartbeatMessage(m.subject, m.data);
        if (d.ok) heartbeats.push(d.value);
      }
    })();
    // The folder does not exist yet: nnU-Net creates it after the sidecar started.
    const foldDir = join(bus.root, "chase", "fold_0");
    const reporter = ReporterProcess.start(await bus.env(who, foldDir));
    await reporter.waitForLog("the reporter to start", (r) => r.msg === "reporter started");
    await makeFoldDir(join(bus.root, "chase"));
    const lines = await readLines(CHASEDB1_LOG);
    const logPath = join(foldDir, "training_log_2023_11_29_19_18_29.txt");
    await writeLog(logPath, lines, { linesPerWrite: 7, delayMs: 1, splitEvery: 3 });

    const expected = parseLogText(readFileSync(CHASEDB1_LOG, "utf8"));
    assert.equal(expected.length, 206);
    await waitFor(
      "206 stored epochs",
      async () => (await storedCount(bus.jsm, who)) >= 206,
      30_000,
      () => reporter.output(),
    );
    await waitFor("a heartbeat with the last epoch", () => heartbeats.some((h) => h.lastEpoch === 205), 10_000);
    const { code } = await reporter.stop("SIGTERM");
    sub.unsubscribe();
    assert.equal(code, 0);

    const stored = await storedEpochs(bus.js, who);
    assert.deepEqual(
      stored.map((s) => s.id),
      ids("uid-chase", "0", 0, range(0, 205)),
    );
    for (const [i, s] of stored.entries()) {
      const want = expected[i];
      assert.ok(want);
      assert.equal(s.metrics.epoch, want.epoch);
      assert.equal(s.metrics.emaPseudoDice, want.emaPseudoDice, `EMA of epoch ${want.epoch}`);
      assert.deepEqual(s.metrics.pseudoDice, want.pseudoDice);
      assert.equal(s.metrics.valLoss, want.valLoss);
      assert.equal(s.metrics.loggedAt, want.loggedAt);
    }
    const hb = heartbeats.find((h) => h.lastEpoch === 205);
    assert.equal(hb?.logFile, logPath);
    assert.equal(hb?.buffered, 0);
    const stopped = reporter.records.find((r) => r.msg === "reporter stopped");
    assert.equal(stopped?.published, 206);
    assert.equal(stopped?.skippedLines, 0);
    assert.equal(stopped?.dropped, 0);
  });

  it("a half-written line waits for its newline: the epoch goes out once, with the whole value", async () => {
    const who: Identity = { namespace: "team-a", run: "half", runUid: "uid-half", fold: "1", attempt: 0 };
    const foldDir = await makeFoldDir(join(bus.root, "half"), "1");
    const reporter = ReporterProcess.start(await bus.env(who, foldDir));
    await reporter.waitForLog("the reporter to start", (r) => r.msg === "reporter started");
    const lines = (await readLines(CHASEDB1_LOG)).slice(0, 60);
    const log = join(foldDir, "training_log_2023_11_29_19_18_29.txt");
    // Up to the middle of epoch 0's Dice line, then nothing for many polls.
    const dice = lines.findIndex((l) => l.includes("Pseudo dice [0.7643]"));
    await writeLog(log, lines.slice(0, dice), { splitEvery: 0 });
    await appendFile(log, "2023-11-29 19:20:55.054961: Pseudo dice [0.76");
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await storedCount(bus.jsm, who), 0);
    await appendFile(log, "43] \n2023-11-29 19:20:55.055074: Epoch ti");
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await storedCount(bus.jsm, who), 0, "the epoch's end line is still incomplete");
    await appendFile(log, "me: 140.07 s \n");
    await waitFor(
      "epoch 0 stored",
      async () => (await storedCount(bus.jsm, who)) === 1,
      10_000,
      () => reporter.output(),
    );
    assert.equal((await reporter.stop()).code, 0);
    const [first] = await storedEpochs(bus.js, who);
    assert.deepEqual(first?.metrics.pseudoDice, [0.7643]);
    assert.equal(first?.metrics.epochTimeSeconds, 140.07);
    assert.equal(first?.id, "uid-half/1/0/0");
  });

  it("a resume: the next attempt's reporter skips the dead trainer's log and publishes the new training_log from the resume epoch, with the stitched EMA", async () => {
    const first: Identity = { namespace: "team-a", run: "refuge", runUid: "uid-refuge", fold: "2", attempt: 0 };
    const second: Identity = { ...first, attempt: 1 };
    const foldDir = await makeFoldDir(join(bus.root, "refuge"), "2");
    const [log1, log2] = CRF_FOLD2_LOGS;

    // Attempt 0: its trainer writes the first log (0..725, an in-file restart back to 700, on to 799).
    const a0 = ReporterProcess.start(await bus.env(first, foldDir));
    await a0.waitForLog("attempt 0 to start", (r) => r.msg === "reporter started");
    await writeLog(join(foldDir, "training_log_2021_6_19_09_40_34.txt"), await readLines(log1), {
      linesPerWrite: 40,
      delayMs: 1,
    });
    await waitFor(
      "attempt 0's epochs",
      async () => (await storedCount(bus.jsm, first)) >= 800,
      30_000,
      () => a0.output(),
    );
    assert.equal((await a0.stop()).code, 0);

    // Attempt 1: a new pod. Its sidecar starts before nnU-Net, finds the old log, and must not
    // publish it; then nnU-Net resumes into a new file.
    const a1 = ReporterProcess.start(await bus.env(second, foldDir));
    await a1.waitForLog(
      "attempt 1 to hold the old log",
      (r) => r.msg === "log was there before us: publishing once it grows",
    );
    await writeLog(join(foldDir, "training_log_2021_6_20_11_10_06.txt"), await readLines(log2), {
      linesPerWrite: 9,
      delayMs: 1,
    });
    await waitFor(
      "attempt 1's epochs",
      async () => (await storedCount(bus.jsm, first)) >= 900,
      30_000,
      () => a1.output(),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await a1.stop()).code, 0);

    const stored = await storedEpochs(bus.js, first);
    assert.deepEqual(
      stored.filter((s) => s.metrics.attempt === 0).map((s) => s.id),
      ids("uid-refuge", "2", 0, range(0, 799)),
      "attempt 0: each epoch once (the in-file re-run of 700..725 is a duplicate id)",
    );
    const resumed = stored.filter((s) => s.metrics.attempt === 1);
    assert.deepEqual(
      resumed.map((s) => s.id),
      ids("uid-refuge", "2", 1, range(700, 799)),
      "attempt 1: the new file only",
    );
    assert.ok(
      a1.records.some((r) => r.msg === "stream holds nothing of this attempt: publishing every epoch"),
      "attempt 0's epochs are no resume point for attempt 1",
    );
    // The EMA continues from the old log's history, as nnU-Net's does from its checkpoint.
    const curve = parseCurveCsv("crf-effunet fold 2", readFileSync(CRF_FOLD2_CSV, "utf8")).points;
    for (const s of resumed) {
      const point = curve.find((p) => p.epoch === s.metrics.epoch);
      assert.ok(point && s.metrics.emaPseudoDice !== undefined);
      assert.ok(
        Math.abs(s.metrics.emaPseudoDice - (point.emaPseudoDice ?? Number.NaN)) < 1e-5,
        `EMA of epoch ${s.metrics.epoch}: ${s.metrics.emaPseudoDice} vs ${point.emaPseudoDice}`,
      );
    }
  });
});
