import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANNOTATION_STALL_REPORT, ANNOTATION_STOP_DECISION, StallReport } from "@nnunet-operator/api";
import { EventRecorder, KubeApiError, type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeClock, FakeKubePort, settle } from "@nnunet-operator/kube/testing";
import { pino } from "pino";
import { Registry } from "prom-client";
import { EarlyStopController } from "./controller.js";
import { createEarlyStopMetrics } from "./metrics.js";
import { RunIndex } from "./runs.js";
import { Terminator } from "./terminator.js";
import { epochMessage, flatCurve, makeRun, makeTrainingJob, MemoryEpochSource } from "./testing/index.js";

// The stall report on the fold's Job (the operator restarts the attempt it names): once per
// attempt and last epoch, across ticks and leadership terms; never on a stopped fold; retried
// after a failed patch; and a restart's new attempt is judged from when it started, not from
// the old attempt's last epoch. A fake clock, FakeKubePort, an in-memory stream; 100 s
// epochs and stallAfterEpochTimes 5, so a fold stalls 500 s after its last epoch.

const EARLY_STOP = { policy: "Patience", patience: 1000, minEpochs: 5, stallAfterEpochTimes: 5 };
const JOB = { namespace: "team-a", name: "liver-fold-0" };

async function world(options: { job?: { annotations?: Record<string, string> } } = {}) {
  const clock = new FakeClock();
  const port = new FakeKubePort();
  const created = await port.create(Resources.trainingRuns, makeRun({ earlyStop: EARLY_STOP, maxEpochs: 200, folds: [0] }));
  await port.create(Resources.jobs, makeTrainingJob(created, "0", options.job));
  // The run as the informer would hand it over; `setStatus` plays the operator's status writes.
  let run: KubeObject = created;
  let rv = 0;
  const runs = new RunIndex(() => run);
  const setStatus = (status: Record<string, unknown>) => (run = { ...run, metadata: { ...run.metadata, resourceVersion: `s${++rv}` }, status } as KubeObject);
  const source = new MemoryEpochSource();
  const events = new EventRecorder({ port, clock, reporter: { controller: "nnunet-operator.io/early-stop", instance: "test" } });
  const startTerm = () => {
    const controller = new EarlyStopController({ source, runs, waitForRuns: async () => true, terminator: new Terminator({ port, events }), events, metrics: createEarlyStopMetrics(new Registry()), clock, log: pino({ level: "silent" }), tickMs: 10_000, retryDelayMs: 100 });
    const term = new AbortController();
    const done = controller.lead(term.signal);
    return { controller, stop: async () => (term.abort(), await done) };
  };
  const address = { runUid: created.metadata.uid ?? "" };
  /** `count` epochs of attempt `attempt` from `from`, the last one observed now. */
  const publish = (from: number, count: number, attempt = 0) => {
    const points = flatCurve(from + count).slice(from);
    for (const p of points) source.publish(epochMessage(p, clock.now() - (from + count - 1 - p.epoch) * 100_000, { ...address, attempt }));
  };
  const reports = () =>
    port
      .writes()
      .filter((w) => w.verb === "patch" && w.resource === "jobs.batch")
      .map((w) => (w.body as { metadata: { annotations: Record<string, string> } }).metadata.annotations[ANNOTATION_STALL_REPORT])
      .filter((a): a is string => a !== undefined)
      .map((a) => StallReport.parse(JSON.parse(a)));
  const job = () => port.get<KubeObject>(Resources.jobs, JOB);
  return { clock, port, source, setStatus, startTerm, publish, reports, job };
}

async function until(what: string, predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (predicate()) return;
    await settle();
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("stall report on the fold's Job", () => {
  it("is patched once per attempt and last epoch: not again on later ticks, nor by a new leadership term, and again for a new stall", async () => {
    const w = await world();
    let term = w.startTerm();
    w.publish(0, 10);
    await until("consumed", () => w.source.acked === 10);
    await w.clock.advance(490_000);
    assert.deepEqual(w.reports(), [], "not stalled within five epoch times");
    await w.clock.advance(20_000);
    await until("the report", () => w.reports().length === 1);
    const first = w.reports()[0]!;
    assert.deepEqual({ ...first, detectedAt: undefined }, { schemaVersion: 1, lastEpoch: 9, attempt: 0, detectedAt: undefined, secondsSinceLastEpoch: 510, limitSeconds: 500 });
    assert.equal(first.detectedAt, new Date(w.clock.now()).toISOString());
    await w.clock.advance(100_000);
    assert.equal(w.reports().length, 1, "later ticks of the same stall write nothing");

    await term.stop();
    term = w.startTerm();
    await until("the new term", () => term.controller.active);
    await w.clock.advance(30_000);
    assert.equal(w.reports().length, 1, "a new term finds the report on the Job and writes nothing");

    // The trainer recovers for one epoch, then goes quiet again: a new stall, a new report.
    w.publish(10, 1);
    await until("the next epoch", () => w.source.acked === 11);
    await w.clock.advance(520_000);
    await until("the second report", () => w.reports().length === 2);
    assert.equal(w.reports()[1]?.lastEpoch, 10);
    await term.stop();
  });

  it("is never written for a fold whose Job carries a stop decision, and suspends nothing", async () => {
    const manual = { schemaVersion: 1, epoch: 8, policy: "Manual", reason: "stopped by hand", decidedAt: "2026-01-01T00:00:00.000Z" };
    const w = await world({ job: { annotations: { [ANNOTATION_STOP_DECISION]: JSON.stringify(manual) } } });
    const term = w.startTerm();
    w.publish(0, 10);
    await until("consumed", () => w.source.acked === 10);
    await w.clock.advance(600_000);
    await settle();
    assert.deepEqual(w.reports(), []);
    assert.equal(w.port.writes().filter((x) => x.verb === "patch").length, 0);
    assert.equal((await w.job()).metadata.annotations?.[ANNOTATION_STALL_REPORT], undefined);
    await term.stop();
  });

  it("is retried on the next tick after a failed patch, and a refused one is given up without crashing the term", async () => {
    const w = await world();
    const term = w.startTerm();
    w.publish(0, 10);
    await until("consumed", () => w.source.acked === 10);
    w.port.failNext("patch", new KubeApiError("unavailable", { code: 503, reason: "ServiceUnavailable", retryable: true }));
    await w.clock.advance(510_000);
    await settle();
    assert.equal((await w.job()).metadata.annotations?.[ANNOTATION_STALL_REPORT], undefined, "the first patch failed");
    await w.clock.advance(10_000);
    await until("the retried report", () => w.reports().length === 2);
    assert.equal(StallReport.parse(JSON.parse((await w.job()).metadata.annotations?.[ANNOTATION_STALL_REPORT] ?? "")).lastEpoch, 9);

    w.publish(10, 1);
    await until("the next epoch", () => w.source.acked === 11);
    w.port.failNext("patch", new KubeApiError("forbidden", { code: 403, reason: "Forbidden", retryable: false }));
    await w.clock.advance(520_000);
    await w.clock.advance(30_000);
    assert.equal(w.reports().length, 3, "a refused patch is not retried");
    assert.equal(term.controller.active, true);
    await term.stop();
  });

  it("judges a restarted fold's new attempt from when the status named it, and reports it with that attempt", async () => {
    const w = await world();
    const term = w.startTerm();
    w.setStatus({ folds: [{ fold: "0", phase: "Training", attempt: 0 }] });
    w.publish(0, 10);
    await until("consumed", () => w.source.acked === 10);
    await w.clock.advance(510_000);
    await until("the report of attempt 0", () => w.reports().length === 1);

    // The operator restarts the fold: Restarting, then the Job of attempt 1, then Training.
    w.setStatus({ folds: [{ fold: "0", phase: "Restarting", attempt: 1 }] });
    await w.port.delete(Resources.jobs, JOB);
    const created = await w.port.get<KubeObject>(Resources.trainingRuns, { namespace: "team-a", name: "liver" });
    await w.port.create(Resources.jobs, makeTrainingJob(created, "0", { annotations: { "nnunet-operator.io/attempt": "1" } }));
    await w.clock.advance(20_000);
    w.setStatus({ folds: [{ fold: "0", phase: "Training", attempt: 1 }] });
    await w.clock.advance(480_000);
    assert.equal(w.reports().length, 1, "a new attempt is not stalled before five epoch times from its start");
    await w.clock.advance(20_000);
    await until("the report of attempt 1", () => w.reports().length === 2);
    assert.deepEqual([w.reports()[1]?.attempt, w.reports()[1]?.lastEpoch], [1, 9]);
    await term.stop();
  });

  it("is not put on the Job of another attempt than the one that stalled", async () => {
    const w = await world({ job: { annotations: { "nnunet-operator.io/attempt": "2" } } });
    const term = w.startTerm();
    w.publish(0, 10, 1);
    await until("consumed", () => w.source.acked === 10);
    await w.clock.advance(600_000);
    await settle();
    assert.deepEqual(w.reports(), []);
    await term.stop();
  });
});
