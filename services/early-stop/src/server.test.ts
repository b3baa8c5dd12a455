import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { METRICS } from "@nnunet-operator/api";
import { Registry } from "prom-client";
import { createEarlyStopMetrics } from "./metrics.js";
import { buildServer } from "./server.js";

// The HTTP surface through fastify's inject(): probes and the catalogue's metrics.

describe("buildServer", () => {
  function server(nats: boolean, synced: boolean) {
    const registry = new Registry();
    const metrics = createEarlyStopMetrics(registry);
    const app = buildServer({
      registry,
      readiness: [
        { name: "nats", ok: () => nats },
        { name: "trainingRuns", ok: () => synced },
      ],
      describe: () => ({ leading: false }),
    });
    return { app, metrics };
  }

  it("answers /healthz whatever the dependencies do", async () => {
    const { app } = server(false, false);
    const res = await app.inject({ method: "GET", url: "/healthz" });
    assert.equal(res.statusCode, 200);
  });

  const readiness: Array<[boolean, boolean, number]> = [
    [true, true, 200],
    [false, true, 503],
    [true, false, 503],
  ];
  for (const [nats, synced, code] of readiness) {
    it(`is ${code === 200 ? "ready" : "not ready"} with NATS ${nats ? "up" : "down"} and the run cache ${synced ? "synced" : "syncing"}, leader or not`, async () => {
      const { app } = server(nats, synced);
      const res = await app.inject({ method: "GET", url: "/readyz" });
      assert.equal(res.statusCode, code);
      assert.deepEqual(res.json().checks, { nats, trainingRuns: synced });
      assert.equal(res.json().leading, false);
    });
  }

  it("serves every early-stop metric of the catalogue, with its type, in the Prometheus text format", async () => {
    const { app, metrics } = server(true, true);
    metrics.countMessage("rejected", "schema");
    metrics.setFoldSource(() => [
      { namespace: "a", run: "r", fold: "0", epoch: 12, maxEpochs: 500, ema: 0.8, lastEpochAtMs: 1_700_000_000_000 },
    ]);
    const res = await app.inject({ method: "GET", url: "/metrics" });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"] as string, /^text\/plain/);
    for (const spec of Object.values(METRICS).filter((m) => m.service === "early-stop")) {
      assert.match(res.body, new RegExp(`^# TYPE ${spec.name} ${spec.type}$`, "m"), spec.name);
    }
    assert.match(res.body, /^nnunet_earlystop_messages_total\{result="rejected",reason="schema"\} 1$/m);
    assert.match(res.body, /^nnunet_fold_epoch\{namespace="a",run="r",fold="0"\} 12$/m);
    assert.match(res.body, /^nnunet_fold_max_epochs\{namespace="a",run="r",fold="0"\} 500$/m);
    assert.match(res.body, /^nnunet_fold_last_epoch_timestamp_seconds\{namespace="a",run="r",fold="0"\} 1700000000$/m);
  });

  it("answers an unknown path with a stable error code", async () => {
    const { app } = server(true, true);
    const res = await app.inject({ method: "GET", url: "/nope" });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, "NotFound");
  });
});
