import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { WorkQueueMetrics } from "./workqueue.js";

// prom-client adapters for the hooks of this package. Metrics are looked up before they are
// created, so two queues (or two test cases) sharing one registry share the series.

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Work queue metrics labelled by queue `name`. */
export function promWorkQueueMetrics(registry: Registry, name: string): WorkQueueMetrics {
  const registers = [registry];
  const depth = getOrCreate(
    registry,
    "nnunet_workqueue_depth",
    () =>
      new Gauge({
        name: "nnunet_workqueue_depth",
        help: "Keys ready in the work queue.",
        labelNames: ["name"],
        registers,
      }),
  );
  const adds = getOrCreate(
    registry,
    "nnunet_workqueue_adds_total",
    () =>
      new Counter({
        name: "nnunet_workqueue_adds_total",
        help: "Keys added to the work queue.",
        labelNames: ["name"],
        registers,
      }),
  );
  const retries = getOrCreate(
    registry,
    "nnunet_workqueue_retries_total",
    () =>
      new Counter({
        name: "nnunet_workqueue_retries_total",
        help: "Keys requeued with backoff after a failure.",
        labelNames: ["name"],
        registers,
      }),
  );
  const latency = getOrCreate(
    registry,
    "nnunet_workqueue_queue_duration_seconds",
    () =>
      new Histogram({
        name: "nnunet_workqueue_queue_duration_seconds",
        help: "Time a key waited in the queue before a worker took it.",
        labelNames: ["name"],
        buckets: SECONDS_BUCKETS,
        registers,
      }),
  );
  const work = getOrCreate(
    registry,
    "nnunet_workqueue_work_duration_seconds",
    () =>
      new Histogram({
        name: "nnunet_workqueue_work_duration_seconds",
        help: "Time a worker spent on one key.",
        labelNames: ["name"],
        buckets: SECONDS_BUCKETS,
        registers,
      }),
  );
  const labels = { name };
  return {
    depth: (n) => depth.set(labels, n),
    added: () => adds.inc(labels),
    retried: () => retries.inc(labels),
    queueLatency: (s) => latency.observe(labels, s),
    workDuration: (s) => work.observe(labels, s),
  };
}

/** Kube API request metrics, for KubePortOptions.onRequest. */
export function promKubeRequestMetrics(
  registry: Registry,
): (info: { verb: string; resource: string; code: number; durationMs: number }) => void {
  const registers = [registry];
  const requests = getOrCreate(
    registry,
    "nnunet_kube_requests_total",
    () =>
      new Counter({
        name: "nnunet_kube_requests_total",
        help: "Kubernetes API requests by verb, resource and HTTP code (0: no response).",
        labelNames: ["verb", "resource", "code"],
        registers,
      }),
  );
  const duration = getOrCreate(
    registry,
    "nnunet_kube_request_duration_seconds",
    () =>
      new Histogram({
        name: "nnunet_kube_request_duration_seconds",
        help: "Kubernetes API request latency.",
        labelNames: ["verb", "resource"],
        buckets: SECONDS_BUCKETS,
        registers,
      }),
  );
  return ({ verb, resource, code, durationMs }) => {
    requests.inc({ verb, resource, code: String(code) });
    duration.observe({ verb, resource }, durationMs / 1000);
  };
}
