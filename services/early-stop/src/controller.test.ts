import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANNOTATION_STOP_DECISION, StopDecision } from "@nnunet-operator/api";
import { EventRecorder, KubeApiError, type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeClock, FakeKubePort, settle } from "@nnunet-operator/kube/testing";
import { pino } from "pino";
import { Registry } from "prom-client";
import { makePolicyConfig } from "./convergence/config.js";
import { FoldState } from "./convergence/fold-state.js";
import type { EpochPoint } from "./convergence/history.js";
import { EarlyStopController } from "./controller.js";
import { createEarlyStopMetrics } from "./metrics.js";
import { RunIndex } from "./runs.js";
import { Terminator } from "./terminator.js";
import {
  type EpochAddress,
  epochMessage,
  flatCurve,
  makeRun,
  makeTrainingJob,
  MemoryEpochSource,
} from "./testing/index.js";

// The controller over a FakeKubePort, an in-memory epoch source and a fake clock: what it
// writes to the API for decisions, redeliveries, malformed input, divergence and the
// end of a leadership term.

const PATIENCE = { policy: "Patience", patience: 10, minEpochs: 5, minDelta: 0.001 };

async function world(
  options: {
    earlyStop?: Record<string, unknown>;
    maxEpochs?: number;
    runs?: KubeObject[];
    jobs?: boolean;
    firstTerminator?: Pick<Terminator, "terminate">;
    auditFraction?: number;
  } = {},
) {
  const clock = new FakeClock();
  const port = new FakeKubePort();
  const run = makeRun({ earlyStop: options.earlyStop ?? PATIENCE, maxEpochs: options.maxEpochs ?? 200 });
  // The fake API server assigns uids, as a real one does: messages carry the stored one.
  const created = await port.create(Resources.trainingRuns, run);
  for (const r of options.runs ?? []) await port.create(Resources.trainingRuns, r);
  const address = { runUid: created.metadata.uid ?? "" };
  if (options.jobs ?? true)
    for (const fold of ["0", "1"]) await port.create(Resources.jobs, makeTrainingJob(created, fold));
  const registry = new Registry();
  const metrics = createEarlyStopMetrics(registry);
  const source = new MemoryEpochSource();
  const events = new EventRecorder({
    port,
    clock,
    reporter: { controller: "nnunet-operator.io/early-stop", instance: "test" },
  });
  const runs = async () => new RunIndex(await snapshot(port));
  const makeController = async (terminator: Pick<Terminator, "terminate"> = new Terminator({ port, events })) =>
    new EarlyStopController({
      source,
      runs: await runs(),
      waitForRuns: async () => true,
      terminator,
      events,
      metrics,
      clock,
      log: pino({ level: "silent" }),
      tickMs: 10_000,
      retryDelayMs: 100,
      ...(options.auditFraction !== undefined && { auditFraction: options.auditFraction }),
    });
  const controller = await makeController(options.firstTerminator);
  const term = new AbortController();
  const done = controller.lead(term.signal);
  await settle();
  const publish = (points: EpochPoint[], over: EpochAddress = {}) => {
    for (const p of points) source.publish(epochMessage(p, clock.now() + p.epoch * 100_000, { ...address, ...over }));
  };
  return { clock, port, registry, metrics, source, controller, term, done, publish, makeController, address };
}

/** A lookup over the runs the port holds right now. */
async function snapshot(port: FakeKubePort): Promise<(key: string) => KubeObject | undefined> {
  const { items } = await port.list(Resources.trainingRuns);
  const byKey = new Map(items.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]));
  return (key) => byKey.get(key);
}

async function until(what: string, predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (predicate()) return;
    await settle();
  }
  assert.fail(`timed out waiting for ${what}`);
}

function jobPatches(port: FakeKubePort) {
  return port.writes().filter((w) => w.verb === "patch" && w.resource === "jobs.batch");
}

function eventsCreated(port: FakeKubePort) {
  return port
    .writes()
    .filter((w) => w.verb === "create" && w.resource === "events.events.k8s.io")
    .map((w) => w.body as { reason: string; type: string; regarding: { name: string } });
}

function expectedStop(points: EpochPoint[], earlyStop: Record<string, unknown>, maxEpochs: number): number | undefined {
  const state = new FoldState(makePolicyConfig(earlyStop, maxEpochs));
  for (const p of points) {
    const o = state.ingest(p, 0);
    if (o.accepted && o.decision) return o.decision.epoch;
  }
  return undefined;
}

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

describe("early-stop controller", () => {
  it("patches the fold's Job once, with the decision annotation and suspend in the same patch, and records an Event", async () => {
    const w = await world();
    const curve = flatCurve(60);
    const stop = expectedStop(curve, PATIENCE, 200);
    assert.ok(stop !== undefined && stop < 59);
    w.publish(curve);
    await until("the stop patch", () => jobPatches(w.port).length > 0);
    await until("all epochs consumed", () => w.source.acked === curve.length);
    const patches = jobPatches(w.port);
    assert.equal(patches.length, 1);
    assert.equal(patches[0]?.key, "team-a/liver-fold-0");
    const body = patches[0]?.body as { metadata: { annotations: Record<string, string> }; spec: { suspend: boolean } };
    assert.equal(body.spec.suspend, true);
    const decision = StopDecision.parse(JSON.parse(body.metadata.annotations[ANNOTATION_STOP_DECISION] ?? ""));
    assert.equal(decision.epoch, stop);
    assert.equal(decision.policy, "Patience");
    const job = await w.port.get<KubeObject & { spec: { suspend: boolean } }>(Resources.jobs, {
      namespace: "team-a",
      name: "liver-fold-0",
    });
    assert.equal(job.spec.suspend, true);
    await until("the event", () => eventsCreated(w.port).length > 0);
    assert.deepEqual(
      eventsCreated(w.port).map((e) => [e.reason, e.type, e.regarding.name]),
      [["FoldStopped", "Normal", "liver"]],
    );
    assert.equal(await counter(w.registry, "nnunet_earlystop_decisions_total", { policy: "Patience" }), 1);
    assert.equal(await counter(w.registry, "nnunet_earlystop_epochs_saved_total"), 200 - 1 - (stop ?? 0));
    assert.match(await w.registry.metrics(), /^nnunet_earlystop_decision_latency_seconds_count 1$/m);
    w.term.abort();
    await w.done;
  });

  const auditCases = [
    { name: "a run in Audit mode", earlyStop: { ...PATIENCE, mode: "Audit" }, auditFraction: 0 },
    {
      name: "an Enforce run's fold in the operator's audit sample (auditFraction 1)",
      earlyStop: PATIENCE,
      auditFraction: 1,
    },
  ];
  for (const c of auditCases) {
    it(`records the would-be decision of ${c.name} on the Job without suspending it, with an Event FoldAudited, and counts no epochs saved`, async () => {
      const w = await world({ earlyStop: c.earlyStop, auditFraction: c.auditFraction });
      const curve = flatCurve(60);
      const stop = expectedStop(curve, PATIENCE, 200);
      w.publish(curve);
      await until("the audit patch", () => jobPatches(w.port).length > 0);
      await until("all epochs consumed", () => w.source.acked === curve.length);
      const patches = jobPatches(w.port);
      assert.equal(patches.length, 1, "one patch, and none for the epochs after the would-be stop");
      const body = patches[0]?.body as { metadata: { annotations: Record<string, string> }; spec?: unknown };
      assert.equal(body.spec, undefined, "no suspend");
      const decision = StopDecision.parse(JSON.parse(body.metadata.annotations[ANNOTATION_STOP_DECISION] ?? ""));
      assert.equal(decision.mode, "Audit");
      assert.equal(decision.epoch, stop);
      assert.equal(decision.trainedSeconds, ((stop ?? 0) + 1) * 100);
      const job = await w.port.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, {
        namespace: "team-a",
        name: "liver-fold-0",
      });
      assert.notEqual(job.spec.suspend, true);
      await until("the event", () => eventsCreated(w.port).length > 0);
      assert.deepEqual(
        eventsCreated(w.port).map((e) => [e.reason, e.type]),
        [["FoldAudited", "Normal"]],
      );
      assert.equal(await counter(w.registry, "nnunet_earlystop_epochs_saved_total"), 0);
      w.term.abort();
      await w.done;
    });
  }

  it("does not patch again when epochs are redelivered, nor after a restart that replays the stream", async () => {
    const w = await world();
    const curve = flatCurve(60);
    w.publish(curve);
    await until("all epochs consumed", () => w.source.acked === curve.length);
    w.publish(curve.slice(40, 45));
    await until("redeliveries consumed", () => w.source.acked === curve.length + 5);
    assert.equal(await counter(w.registry, "nnunet_earlystop_messages_total", { reason: "duplicate" }), 5);
    w.term.abort();
    await w.done;
    // The next term (a restart, or another replica) rebuilds the same decision from the stream.
    const next = await w.makeController();
    const term = new AbortController();
    const done = next.lead(term.signal);
    await until("the replay", () => next.active);
    await settle();
    assert.equal(next.folds().get("team-a/liver/0")?.state.decision?.epoch, expectedStop(curve, PATIENCE, 200));
    assert.equal(jobPatches(w.port).length, 1);
    assert.equal(eventsCreated(w.port).length, 1);
    term.abort();
    await done;
  });

  it("counts malformed and foreign messages by reason and never patches a Job for them", async () => {
    const w = await world({ runs: [makeRun({ name: "spleen", uid: "uid-spleen", folds: [0] })] });
    const nan = {
      epoch: 7,
      trainLoss: Number.NaN,
      valLoss: -0.4,
      pseudoDiceMean: 0.5,
      emaPseudoDice: 0.5,
      epochTimeSeconds: 100,
    };
    w.source.publishRaw("nnunet.epochs.team-a.liver.0", "{not json");
    w.source.publishRaw("nnunet.epochs.team-a.liver.0", JSON.stringify({ schemaVersion: 1, epoch: "seven" }));
    w.publish([nan], { run: "ghost" });
    w.publish([nan], { runUid: "uid-of-an-older-liver" });
    w.publish([nan], { fold: "3" });
    w.publish([nan], { run: "spleen" });
    w.publish(flatCurve(3));
    w.publish(flatCurve(2));
    await until("all consumed", () => w.source.acked === w.source.stream.length);
    const reasons = Object.fromEntries(
      ((await w.registry.getSingleMetric("nnunet_earlystop_messages_total")?.get())?.values ?? []).map((v) => [
        `${v.labels.result}/${v.labels.reason}`,
        v.value,
      ]),
    );
    assert.deepEqual(reasons, {
      "rejected/json": 1,
      "rejected/schema": 1,
      "rejected/unknown-run": 1,
      "rejected/run-uid-mismatch": 2,
      "rejected/unplanned-fold": 1,
      "accepted/": 3,
      "rejected/duplicate": 2,
    });
    assert.equal(jobPatches(w.port).length, 0);
    w.term.abort();
    await w.done;
  });

  it("never stops a fold because its metrics are missing: epochs without Dice or losses take no decision", async () => {
    const w = await world();
    const bare = flatCurve(120).map((p) => ({ epoch: p.epoch, epochTimeSeconds: 100 }));
    w.publish(bare);
    await until("all consumed", () => w.source.acked === 120);
    assert.equal(w.controller.folds().get("team-a/liver/0")?.state.decision, undefined);
    await w.clock.advance(10_000);
    assert.equal(jobPatches(w.port).length, 0);
    w.term.abort();
    await w.done;
  });

  it("stops a diverging fold at once, before minEpochs and with early stopping disabled", async () => {
    const w = await world({ earlyStop: { enabled: false, minEpochs: 100 } });
    const curve = flatCurve(5);
    w.publish([...curve.slice(0, 3), { ...curve[3]!, trainLoss: Number.POSITIVE_INFINITY }]);
    await until("the stop patch", () => jobPatches(w.port).length === 1);
    const body = jobPatches(w.port)[0]?.body as { metadata: { annotations: Record<string, string> } };
    const decision = StopDecision.parse(JSON.parse(body.metadata.annotations[ANNOTATION_STOP_DECISION] ?? ""));
    assert.deepEqual([decision.epoch, decision.policy], [3, "Divergence"]);
    await until("the event", () => eventsCreated(w.port).length === 1);
    assert.deepEqual(
      eventsCreated(w.port).map((e) => [e.reason, e.type]),
      [["FoldDiverged", "Warning"]],
    );
    w.term.abort();
    await w.done;
  });

  it("stops consuming when leadership ends: later epochs take no decision", async () => {
    const w = await world();
    const curve = flatCurve(60);
    const stop = expectedStop(curve, PATIENCE, 200) ?? 0;
    w.publish(curve.slice(0, stop - 5));
    await until("consumed", () => w.source.acked === stop - 5);
    w.term.abort();
    await w.done;
    assert.equal(w.controller.active, false);
    assert.equal(w.source.consuming, 0);
    w.publish(curve.slice(stop - 5));
    await w.clock.advance(60_000);
    assert.equal(w.source.acked, stop - 5);
    assert.equal(jobPatches(w.port).length, 0);
  });

  it("takes the same decision when a new term takes over mid-run (restart or failover)", async () => {
    const w = await world();
    const curve = flatCurve(60);
    w.publish(curve.slice(0, 20));
    await until("first half", () => w.source.acked === 20);
    w.term.abort();
    await w.done;
    w.publish(curve.slice(20));
    const next = await w.makeController();
    const term = new AbortController();
    const done = next.lead(term.signal);
    await until("the stop patch", () => jobPatches(w.port).length === 1);
    const body = jobPatches(w.port)[0]?.body as { metadata: { annotations: Record<string, string> } };
    assert.equal(
      StopDecision.parse(JSON.parse(body.metadata.annotations[ANNOTATION_STOP_DECISION] ?? "")).epoch,
      expectedStop(curve, PATIENCE, 200),
    );
    term.abort();
    await done;
  });

  it("patches after a crash between the decision and its patch: the next term finds the decision in the replay", async () => {
    // The first term's patch never returns (the process dies while it is in flight): the
    // deciding epoch was delivered but never acknowledged.
    const w = await world({ firstTerminator: { terminate: () => new Promise(() => undefined) } });
    const curve = flatCurve(60);
    const stop = expectedStop(curve, PATIENCE, 200) ?? 0;
    w.publish(curve);
    await until("the deciding epoch delivered", () => w.source.delivered === stop + 1);
    await settle();
    assert.equal(w.source.acked, stop, "the deciding epoch is not acknowledged");
    assert.equal(jobPatches(w.port).length, 0);
    w.term.abort();
    const next = await w.makeController();
    const term = new AbortController();
    const done = next.lead(term.signal);
    await until("the stop patch", () => jobPatches(w.port).length === 1);
    const body = jobPatches(w.port)[0]?.body as { metadata: { annotations: Record<string, string> } };
    assert.equal(StopDecision.parse(JSON.parse(body.metadata.annotations[ANNOTATION_STOP_DECISION] ?? "")).epoch, stop);
    await until("the rest consumed", () => w.source.acked === 60);
    assert.equal(jobPatches(w.port).length, 1);
    term.abort();
    await done;
  });

  it("lets a missing Job pass without a patch, and retries a failed patch on the next tick", async () => {
    const w = await world({ jobs: false });
    w.publish(flatCurve(60));
    await until("consumed", () => w.source.acked === 60);
    assert.equal(w.controller.folds().get("team-a/liver/0")?.settled, true);
    assert.equal(jobPatches(w.port).length, 0);
    w.term.abort();
    await w.done;

    const v = await world();
    v.port.failNext("patch", new KubeApiError("boom", { code: 503, reason: "ServiceUnavailable", retryable: true }));
    // Up to the deciding epoch only: a later epoch of the fold would retry at once.
    const stop = expectedStop(flatCurve(60), PATIENCE, 200) ?? 0;
    v.publish(flatCurve(stop + 1));
    await until("consumed", () => v.source.acked === stop + 1);
    assert.equal(v.controller.folds().get("team-a/liver/0")?.settled, false);
    await v.clock.advance(10_000);
    await until("the retried patch", () => v.controller.folds().get("team-a/liver/0")?.settled === true);
    const job = await v.port.get<KubeObject & { spec: { suspend: boolean } }>(Resources.jobs, {
      namespace: "team-a",
      name: "liver-fold-0",
    });
    assert.equal(job.spec.suspend, true);
    v.term.abort();
    await v.done;
  });
});
