import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { promKubeRequestMetrics, promWorkQueueMetrics } from "./metrics.js";

describe("prom-client adapters", () => {
  it("labels work queue series by queue name and lets two queues share one registry", async () => {
    const registry = new Registry();
    const a = promWorkQueueMetrics(registry, "trainingruns");
    const b = promWorkQueueMetrics(registry, "jobs");
    a.added?.();
    a.added?.();
    b.added?.();
    a.depth?.(3);
    a.queueLatency?.(0.02);
    const text = await registry.metrics();
    assert.match(text, /nnunet_workqueue_adds_total\{name="trainingruns"\} 2/);
    assert.match(text, /nnunet_workqueue_adds_total\{name="jobs"\} 1/);
    assert.match(text, /nnunet_workqueue_depth\{name="trainingruns"\} 3/);
    assert.match(text, /nnunet_workqueue_queue_duration_seconds_count\{name="trainingruns"\} 1/);
  });

  it("counts Kubernetes API requests by verb, resource and code", async () => {
    const registry = new Registry();
    const onRequest = promKubeRequestMetrics(registry);
    onRequest({ verb: "patch", resource: "jobs.batch", code: 409, durationMs: 12 });
    assert.match(
      await registry.metrics(),
      /nnunet_kube_requests_total\{verb="patch",resource="jobs.batch",code="409"\} 1/,
    );
  });
});
