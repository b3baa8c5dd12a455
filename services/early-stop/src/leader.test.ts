import assert from "node:assert/strict";
import { it } from "node:test";
import { EventRecorder, KubeApiError, LeaderElector, Resources } from "@nnunet-operator/kube";
import { FakeClock, FakeKubePort, settle } from "@nnunet-operator/kube/testing";
import { pino } from "pino";
import { Registry } from "prom-client";
import { EarlyStopController } from "./controller.js";
import { createEarlyStopMetrics } from "./metrics.js";
import { RunIndex } from "./runs.js";
import { Terminator } from "./terminator.js";
import { epochMessage, flatCurve, makeRun, MemoryEpochSource } from "./testing/index.js";

// Two replicas behind packages/kube's LeaderElector on one fake API and one epoch source:
// only the leader consumes; a leader that cannot renew its Lease stops consuming, and the
// other replica takes over from the stream.

it("only the leader consumes; when it cannot renew its Lease it stops and the other replica takes over", async () => {
  const clock = new FakeClock();
  const port = new FakeKubePort();
  const run = await port.create(Resources.trainingRuns, makeRun({ earlyStop: { policy: "Patience", patience: 1000 } }));
  const source = new MemoryEpochSource();
  // A replica cut off from the API: every Lease write fails.
  const cutOff = new Set<string>();
  const leasePort = (identity: string) => ({
    get: port.get.bind(port),
    create: port.create.bind(port),
    patch: ((...args: Parameters<FakeKubePort["patch"]>) =>
      cutOff.has(identity)
        ? Promise.reject(new KubeApiError("unavailable", { code: 503, reason: "ServiceUnavailable", retryable: true }))
        : port.patch(...args)) as FakeKubePort["patch"],
  });
  const replica = (identity: string) => {
    const events = new EventRecorder({ port, clock, reporter: { controller: "c", instance: identity } });
    const controller = new EarlyStopController({
      source,
      runs: new RunIndex((key) => (key === "team-a/liver" ? run : undefined)),
      waitForRuns: async () => true,
      terminator: new Terminator({ port, events }),
      events,
      metrics: createEarlyStopMetrics(new Registry()),
      clock,
      log: pino({ level: "silent" }),
      tickMs: 60_000,
    });
    const elector = new LeaderElector({
      port: leasePort(identity),
      clock,
      namespace: "nnunet-system",
      name: "early-stop",
      identity,
      onStartedLeading: (signal) => controller.lead(signal),
    });
    return { controller, elector };
  };
  const a = replica("a");
  const b = replica("b");
  const stop = new AbortController();
  const runs = [a.elector.run(stop.signal)];
  await settle();
  runs.push(b.elector.run(stop.signal));
  await clock.advance(2_000);
  assert.deepEqual([a.elector.isLeader(), b.elector.isLeader()], [true, false]);
  assert.deepEqual([a.controller.active, b.controller.active], [true, false]);

  const address = { runUid: run.metadata.uid ?? "" };
  for (const p of flatCurve(10)) source.publish(epochMessage(p, clock.now(), address));
  await settle();
  assert.equal(a.controller.folds().get("team-a/liver/0")?.state.history.length, 10);
  assert.equal(source.consuming, 1);

  // a cannot renew: after the renew deadline it steps down and stops consuming; b takes
  // the Lease once it has expired.
  cutOff.add("a");
  await clock.advance(12_000);
  assert.equal(a.elector.isLeader(), false);
  assert.equal(a.controller.active, false);
  assert.equal(source.consuming, 0);
  await clock.advance(8_000);
  assert.equal(b.elector.isLeader(), true);
  await settle();
  assert.equal(b.controller.active, true);
  assert.equal(source.consuming, 1);
  for (const p of flatCurve(12).slice(10)) source.publish(epochMessage(p, clock.now(), address));
  await settle();
  assert.deepEqual(
    b.controller
      .folds()
      .get("team-a/liver/0")
      ?.state.history.points.map((p) => p.epoch),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  stop.abort();
  await Promise.all(runs);
});
