import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "@nnunet-operator/kube/testing";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createEarlyStopMetrics } from "./metrics.js";
import { StreamWatch } from "./stream-watch.js";
import { MemoryEpochSource } from "./testing/memory-source.js";

function setup() {
  const source = new MemoryEpochSource();
  const registry = new Registry();
  const metrics = createEarlyStopMetrics(registry);
  let resubscribed = 0;
  const watch = new StreamWatch({
    source,
    metrics,
    clock: new FakeClock(0),
    log: pino({ level: "silent" }),
    intervalMs: 1000,
    onRecreated: () => void (resubscribed += 1),
  });
  const metric = async (name: string) => (await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? [];
  return { source, watch, metric, resubscribed: () => resubscribed };
}

describe("stream watch: early-stop notices a deleted stream or consumer, recreates it and says so", () => {
  it("reports ready and recreates nothing while both exist", async () => {
    const t = setup();
    await t.watch.check();
    assert.equal(t.watch.ready, true);
    assert.equal(t.source.prepared, 0);
    assert.deepEqual(
      (await t.metric("nnunet_earlystop_stream_ready")).map((v) => v.value),
      [1],
    );
  });

  for (const missing of ["stream", "consumer"] as const) {
    it(`a deleted ${missing} is counted, recreated, and the controller subscribes again`, async () => {
      const t = setup();
      t.source.gone = missing;
      await t.watch.check();
      assert.equal(t.source.prepared, 1);
      assert.equal(t.resubscribed(), 1);
      assert.equal(t.watch.ready, true);
      assert.deepEqual(
        (await t.metric("nnunet_earlystop_stream_recreated_total")).map((v) => [v.labels.missing, v.value]),
        [[missing, 1]],
      );
    });
  }

  it("stays not ready while recreating fails, and does not resubscribe to nothing", async () => {
    const t = setup();
    t.source.gone = "stream";
    t.source.prepareFailures.push(new Error("no JetStream"));
    await t.watch.check();
    assert.equal(t.watch.ready, false);
    assert.equal(t.resubscribed(), 0);
    assert.deepEqual(
      (await t.metric("nnunet_earlystop_stream_ready")).map((v) => v.value),
      [0],
    );
    await t.watch.check();
    assert.equal(t.watch.ready, true, "the next look recreates it");
  });
});
