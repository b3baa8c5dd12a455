import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { encodeEpochMetrics, epochSubject } from "@nnunet-operator/bus";
import { FoldState, makePolicyConfig } from "@nnunet-operator/early-stop";
import {
  CHASEDB1_LOG,
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

// Outages and restarts mid-run, with the real reporter process and a real nats-server:
// nothing is lost, nothing is stored twice within the duplicate window, and past the window
// the early-stop controller's fold state still counts every epoch once.

const LOG_NAME = "training_log_2023_11_29_19_18_29.txt";
const EPOCH_LINES = 7; // lines per epoch in this v2 log
const limits = { maxAgeMs: 24 * 3600_000, maxBytes: 64 * 1024 * 1024, duplicateWindowMs: 120_000 };

/** The line index just after epoch `n`'s end line. */
function afterEpoch(lines: readonly string[], n: number): number {
  let seen = -1;
  for (let i = 0; i < lines.length; i++) if (/Epoch time: /.test(lines[i] ?? "") && ++seen === n) return i + 1;
  throw new Error(`no epoch ${n}`);
}

describe("reporter: outages and restarts", () => {
  let lines: string[];
  const bus = useEpochStream("reporter-outage", limits, { reconnectTimeWaitMs: 100 });

  before(async () => {
    lines = await readLines(CHASEDB1_LOG);
  });

  it("the NATS server stopped mid-run and restarted: the reporter buffers, catches up, and no epoch is lost or stored twice", async () => {
    const who: Identity = { namespace: "team-a", run: "outage", runUid: "uid-outage", fold: "0", attempt: 0 };
    const foldDir = await makeFoldDir(join(bus.root, "outage"));
    const reporter = ReporterProcess.start(await bus.env(who, foldDir));
    await reporter.waitForLog("the reporter to connect", (r) => r.msg === "connected to NATS");
    const log = join(foldDir, LOG_NAME);
    await writeLog(log, lines.slice(0, afterEpoch(lines, 59)), { linesPerWrite: EPOCH_LINES });
    await waitFor(
      "60 stored",
      async () => (await storedCount(bus.jsm, who)) === 60,
      20_000,
      () => reporter.output(),
    );

    // Down for 2 s while the trainer keeps writing epochs 60..129, then the rest after it is back.
    const writing = writeLog(log, lines.slice(0, afterEpoch(lines, 129)), {
      from: afterEpoch(lines, 59),
      linesPerWrite: EPOCH_LINES,
      delayMs: 25,
    });
    await bus.server.restart({ downMs: 2000 });
    await writing;
    await writeLog(log, lines, { from: afterEpoch(lines, 129), linesPerWrite: EPOCH_LINES });
    await waitFor(
      "206 stored",
      async () => (await storedCount(bus.jsm, who).catch(() => 0)) >= 206,
      30_000,
      () => reporter.output(),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await reporter.stop()).code, 0);

    const stored = await storedEpochs(bus.js, who);
    assert.deepEqual(
      stored.map((s) => s.id),
      ids("uid-outage", "0", 0, range(0, 205)),
    );
    assert.ok(
      reporter.records.some(
        (r) => r.msg === "publish failed; buffering and retrying" || r.msg === "NATS disconnected; buffering epochs",
      ),
      "the reporter never saw the outage",
    );
    const stopped = reporter.records.find((r) => r.msg === "reporter stopped");
    assert.equal(stopped?.dropped, 0);
    assert.equal(stopped?.buffered, 0);
  });

  it("NATS unreachable when the reporter starts: it tails and buffers, and publishes everything once NATS is up", async () => {
    const who: Identity = { namespace: "team-a", run: "late-nats", runUid: "uid-late", fold: "3", attempt: 0 };
    const foldDir = await makeFoldDir(join(bus.root, "late"), "3");
    const restarting = bus.server.restart({ downMs: 2500 });
    const up = () =>
      fetch(`${bus.server.monitorUrl}/healthz`, { signal: AbortSignal.timeout(500) }).then(
        (r) => r.ok,
        () => false,
      );
    await waitFor("the server to be down", async () => !(await up()), 10_000);
    const reporter = ReporterProcess.start(await bus.env(who, foldDir));
    await reporter.waitForLog("the reporter to start", (r) => r.msg === "reporter started");
    await writeLog(join(foldDir, LOG_NAME), lines.slice(0, afterEpoch(lines, 39)), { linesPerWrite: EPOCH_LINES });
    await reporter.waitForLog(
      "a publish refused while NATS is down",
      (r) => r.msg === "publish failed; buffering and retrying",
    );
    assert.ok(!reporter.records.some((r) => r.msg === "connected to NATS"), "NATS was reachable after all");
    await restarting;
    await waitFor(
      "40 stored",
      async () => (await storedCount(bus.jsm, who).catch(() => 0)) >= 40,
      30_000,
      () => reporter.output(),
    );
    assert.equal((await reporter.stop()).code, 0);
    assert.deepEqual(
      (await storedEpochs(bus.js, who)).map((s) => s.id),
      ids("uid-late", "3", 0, range(0, 39)),
    );
  });

  it("the reporter killed mid-run and started again: it re-reads the log from the start, sends only what the stream lacks, and stores nothing twice", async () => {
    const who: Identity = { namespace: "team-a", run: "crash", runUid: "uid-crash", fold: "1", attempt: 0 };
    const foldDir = await makeFoldDir(join(bus.root, "crash"), "1");
    const log = join(foldDir, LOG_NAME);
    const first = ReporterProcess.start(await bus.env(who, foldDir));
    await first.waitForLog("the reporter to start", (r) => r.msg === "reporter started");
    await writeLog(log, lines.slice(0, afterEpoch(lines, 99)), { linesPerWrite: EPOCH_LINES });
    await waitFor(
      "100 stored",
      async () => (await storedCount(bus.jsm, who)) === 100,
      20_000,
      () => first.output(),
    );
    await first.stop("SIGKILL");

    const second = ReporterProcess.start(await bus.env(who, foldDir));
    await second.waitForLog(
      "the restarted reporter to read the log",
      (r) => r.msg === "log was there before us: publishing once it grows",
    );
    await writeLog(log, lines, { from: afterEpoch(lines, 99), linesPerWrite: EPOCH_LINES });
    await waitFor(
      "206 stored",
      async () => (await storedCount(bus.jsm, who)) >= 206,
      20_000,
      () => second.output(),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await second.stop()).code, 0);

    assert.deepEqual(
      (await storedEpochs(bus.js, who)).map((s) => s.id),
      ids("uid-crash", "1", 0, range(0, 205)),
    );
    const stopped = second.records.find((r) => r.msg === "reporter stopped");
    assert.equal(stopped?.alreadyStored, 100, "the stream said where the killed reporter left off");
    assert.ok(second.records.some((r) => r.lastStored === 99 && r.msg?.startsWith("stream holds this attempt")));
    assert.equal(stopped?.published, 106);
    assert.equal(stopped?.duplicates, 0);
  });
});

describe("reporter: a restart after the duplicate window", () => {
  // A window far shorter than a run, as 120 s is against days of training.
  const bus = useEpochStream("reporter-window", { ...limits, duplicateWindowMs: 300 });

  it("the restarted reporter stores no copy even past the window, and copies that do get stored are counted once by the early-stop fold state", async () => {
    const who: Identity = { namespace: "team-a", run: "window", runUid: "uid-window", fold: "0", attempt: 0 };
    const foldDir = await makeFoldDir(bus.root);
    const log = join(foldDir, LOG_NAME);
    const lines = await readLines(CHASEDB1_LOG);
    const first = ReporterProcess.start(await bus.env(who, foldDir));
    await first.waitForLog("the reporter to start", (r) => r.msg === "reporter started");
    await writeLog(log, lines.slice(0, afterEpoch(lines, 49)), { linesPerWrite: EPOCH_LINES });
    await waitFor(
      "50 stored",
      async () => (await storedCount(bus.jsm, who)) === 50,
      20_000,
      () => first.output(),
    );
    assert.equal((await first.stop()).code, 0);
    await new Promise((r) => setTimeout(r, 800));

    const second = ReporterProcess.start(await bus.env(who, foldDir));
    await second.waitForLog(
      "the restarted reporter to read the log",
      (r) => r.msg === "log was there before us: publishing once it grows",
    );
    await writeLog(log, lines.slice(0, afterEpoch(lines, 99)), {
      from: afterEpoch(lines, 49),
      linesPerWrite: EPOCH_LINES,
    });
    await waitFor(
      "100 stored",
      async () => (await storedCount(bus.jsm, who)) >= 100,
      20_000,
      () => second.output(),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await second.stop()).code, 0);
    assert.equal(await storedCount(bus.jsm, who), 100, "the restarted reporter sent only epochs 50..99");

    // A reporter that cannot ask the stream (no permission for it) re-publishes the whole log;
    // past the window JetStream stores those copies. Made here by publishing the stored
    // messages again under their own ids.
    const originals = await storedEpochs(bus.js, who);
    for (const o of originals.slice(0, 50))
      await bus.js.publish(epochSubject(who), encodeEpochMetrics(o.metrics), { msgID: o.id ?? "" });
    const stored = await storedEpochs(bus.js, who);
    assert.equal(stored.length, 150, "past the window JetStream stores the copies");
    assert.deepEqual(
      stored.map((s) => s.id),
      [...ids("uid-window", "0", 0, range(0, 99)), ...ids("uid-window", "0", 0, range(0, 49))],
    );
    const state = new FoldState(makePolicyConfig({ policy: "Patience", patience: 1000 }, 1000));
    const outcomes = stored.map((s) => state.ingestMetrics(s.metrics));
    assert.equal(outcomes.filter((o) => o.accepted).length, 100);
    assert.deepEqual(
      state.history.points.map((p) => p.epoch),
      range(0, 99),
    );
    assert.deepEqual(new Set(outcomes.flatMap((o) => (o.accepted ? [] : [o.reason]))), new Set(["OutOfOrder"]));
  });
});

describe("reporter: signed in with its fold attempt's own credential (NATS auth on)", () => {
  const bus = useEpochStream("reporter-perms", limits);

  it("publishes, and after a restart reads its own last stored epoch (the only one it may read) and resumes after it", async () => {
    const who: Identity = { namespace: "team-a", run: "perms", runUid: "uid-perms", fold: "4", attempt: 0 };
    const foldDir = await makeFoldDir(bus.root, "4");
    const log = join(foldDir, LOG_NAME);
    const lines = await readLines(CHASEDB1_LOG);
    const env = await bus.env(who, foldDir);
    const first = ReporterProcess.start(env);
    await first.waitForLog("the reporter to connect", (r) => r.msg === "connected to NATS");
    await writeLog(log, lines.slice(0, afterEpoch(lines, 29)), { linesPerWrite: EPOCH_LINES });
    await waitFor(
      "30 stored",
      async () => (await storedCount(bus.jsm, who)) === 30,
      20_000,
      () => first.output(),
    );
    await first.stop("SIGKILL");

    const second = ReporterProcess.start(env);
    await second.waitForLog(
      "the restarted reporter to read the log",
      (r) => r.msg === "log was there before us: publishing once it grows",
    );
    await writeLog(log, lines.slice(0, afterEpoch(lines, 59)), {
      from: afterEpoch(lines, 29),
      linesPerWrite: EPOCH_LINES,
    });
    await waitFor(
      "60 stored",
      async () => (await storedCount(bus.jsm, who)) >= 60,
      20_000,
      () => second.output(),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await second.stop()).code, 0);

    assert.deepEqual(
      (await storedEpochs(bus.js, who)).map((s) => s.id),
      ids("uid-perms", "4", 0, range(0, 59)),
    );
    const stopped = second.records.find((r) => r.msg === "reporter stopped");
    assert.equal(stopped?.alreadyStored, 30, "the direct get of its own subject told it where the attempt left off");
    assert.equal(stopped?.duplicates, 0);
    assert.equal(stopped?.published, 30);
  });
});
