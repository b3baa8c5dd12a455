import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { METRICS } from "@nnunet-operator/api";
import { OperatorMetrics } from "./metrics.js";
import { buildServer } from "./server.js";
import { admissionReview } from "./testing/builders.js";

const run = (spec: Record<string, unknown> = {}) => ({
  apiVersion: "nnunet-operator.io/v1alpha1",
  kind: "TrainingRun",
  metadata: { name: "liver", namespace: "team-a" },
  spec: { dataset: "Dataset003_Liver", configuration: "3d_fullres", storage: { claimName: "nnunet-data" }, ...spec },
});

const review = (object: unknown) => admissionReview("CREATE", object);

function setup(ready = true) {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  let scrapes = 0;
  const app = buildServer({
    registry,
    ready: () => ready,
    beforeScrape: () => void (scrapes += 1),
    queues: ["default"],
  });
  return { app, metrics, scrapes: () => scrapes };
}

describe("operator HTTP server", () => {
  it("serves every operator metric of the catalogue, with the catalogue's type, refreshed before the scrape", async () => {
    const { app, metrics, scrapes } = setup();
    metrics.setPhases(["Training", "Queued", "Queued"], ["Training", "Queued"]);
    metrics.setRun({
      namespace: "team-a",
      run: "liver",
      gpusInUse: 4,
      gpuSecondsUsed: 100,
      gpuSecondsSaved: 50,
      batchSize: { value: 6, source: "Calibrated" },
    });
    metrics.reconcileDuration.observe({ controller: "trainingrun", result: "success" }, 0.01);
    metrics.reconcileErrors.inc({ controller: "trainingrun", reason: "Conflict" });
    metrics.queueWait.observe({ queue: "default" }, 12);
    metrics.admittedFolds.inc({ queue: "default" });
    metrics.setQueueLengths(new Map([["default", 3]]), ["default"]);
    const res = await app.inject({ method: "GET", url: "/metrics" });
    assert.equal(res.statusCode, 200);
    assert.equal(scrapes(), 1);
    for (const spec of Object.values(METRICS).filter((m) => m.service === "operator")) {
      assert.match(res.body, new RegExp(`# TYPE ${spec.name} ${spec.type}`), spec.name);
    }
    assert.match(res.body, /nnunet_trainingruns\{phase="Queued"\} 2/);
    assert.match(res.body, /nnunet_trainingruns\{phase="Succeeded"\} 0/);
    assert.match(res.body, /nnunet_calibration_batch_size\{namespace="team-a",run="liver",source="Calibrated"\} 6/);
  });

  it("drops a deleted run's series and a batch size's old source", async () => {
    const { app, metrics } = setup();
    metrics.setRun({
      namespace: "team-a",
      run: "liver",
      gpusInUse: 1,
      gpuSecondsUsed: 1,
      gpuSecondsSaved: 0,
      batchSize: { value: 2, source: "Plans" },
    });
    metrics.setRun({
      namespace: "team-a",
      run: "liver",
      gpusInUse: 1,
      gpuSecondsUsed: 1,
      gpuSecondsSaved: 0,
      batchSize: { value: 6, source: "Calibrated" },
    });
    let body = (await app.inject({ method: "GET", url: "/metrics" })).body;
    assert.doesNotMatch(body, /source="Plans"/);
    metrics.forgetRun("team-a", "liver");
    body = (await app.inject({ method: "GET", url: "/metrics" })).body;
    assert.doesNotMatch(body, /run="liver"/);
  });

  it("answers /healthz always and /readyz only once the caches synced", async () => {
    assert.equal((await setup(false).app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
    assert.equal((await setup(false).app.inject({ method: "GET", url: "/readyz" })).statusCode, 503);
    assert.equal((await setup(true).app.inject({ method: "GET", url: "/readyz" })).statusCode, 200);
  });

  it("admits a valid TrainingRun, with a warning for an undefined queue", async () => {
    const { app } = setup();
    const ok = await app.inject({ method: "POST", url: "/validate-trainingrun", payload: review(run()) });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().response.allowed, true);
    assert.equal(ok.json().response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    const warned = await app.inject({
      method: "POST",
      url: "/validate-trainingrun",
      payload: review(run({ queue: "gold" })),
    });
    assert.match(warned.json().response.warnings[0], /spec\.queue: queue gold is not defined/);
  });

  it("denies an invalid TrainingRun with a 422 status naming the field", async () => {
    const { app } = setup();
    const res = await app.inject({
      method: "POST",
      url: "/validate-trainingrun",
      payload: review(run({ folds: [7] })),
    });
    assert.equal(res.statusCode, 200, "a denial is a successful review");
    const response = res.json().response;
    assert.equal(response.allowed, false);
    assert.equal(response.status.code, 422);
    assert.ok(
      response.status.details.causes.some((c: { field: string }) => c.field.startsWith("spec.folds")),
      JSON.stringify(response.status),
    );
  });

  it("answers 400 with a stable code to a body that is not an AdmissionReview", async () => {
    const { app } = setup();
    const res = await app.inject({ method: "POST", url: "/validate-trainingrun", payload: { hello: "world" } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, "BAD_ADMISSION_REVIEW");
  });

  it("serves only the routes of its port", async () => {
    const registry = new Registry();
    const webhookOnly = buildServer({ registry, ready: () => true, serve: { metrics: false, webhook: true } });
    assert.equal((await webhookOnly.inject({ method: "GET", url: "/metrics" })).statusCode, 404);
    const metricsOnly = buildServer({ registry, ready: () => true, serve: { metrics: true, webhook: false } });
    assert.equal(
      (await metricsOnly.inject({ method: "POST", url: "/validate-trainingrun", payload: review(run()) })).statusCode,
      404,
    );
  });
});
