import { createServer, type Server } from "node:http";
import { Counter, Registry } from "prom-client";
import { METRICS, type MetricSpec } from "@nnunet-operator/api";

// The reporter's counters, named by the catalogue in @nnunet-operator/api. Training pods
// have no Service, so nobody scrapes them by default: main logs them periodically, and
// REPORTER_METRICS_PORT adds a bare /metrics endpoint for whoever wants to scrape the pod.

export interface ReporterMetrics {
  readonly registry: Registry;
  readonly published: Counter;
  readonly dropped: Counter;
  readonly skippedLines: Counter;
}

function counter(spec: MetricSpec, registry: Registry): Counter {
  return new Counter({ name: spec.name, help: spec.help, labelNames: [...spec.labels], registers: [registry] });
}

export function buildReporterMetrics(registry = new Registry()): ReporterMetrics {
  return {
    registry,
    published: counter(METRICS.reporterPublished, registry),
    dropped: counter(METRICS.reporterDropped, registry),
    skippedLines: counter(METRICS.reporterSkippedLines, registry),
  };
}

/** Serves GET /metrics on `port` until `signal` aborts; resolves once listening. */
export async function serveMetrics(
  registry: Registry,
  port: number,
  signal: AbortSignal,
  host = "0.0.0.0",
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    registry
      .metrics()
      .then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text))
      .catch(() => res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n"));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const close = (): void => {
    server.close();
    server.closeAllConnections();
  };
  if (signal.aborted) close();
  else signal.addEventListener("abort", close, { once: true });
  return server;
}
