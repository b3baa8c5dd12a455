import { hostname } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { startEarlyStop } from "./app.js";
import { type EarlyStopConfig, loadConfig } from "./config.js";

// Composition root of the early-stop controller: configuration from the environment
// (config.ts), a logger, the cluster credentials, and one AbortSignal from SIGTERM/SIGINT
// that ends it all (leadership handed back, consumption stopped, NATS drained, informers
// stopped, the HTTP server closed).

let config: EarlyStopConfig;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`early-stop: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
const log = pino({ level: config.logLevel, base: { service: "early-stop" } });
const shutdown = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => shutdown.abort());

let started = false;
// Before the start completes (NATS may still be unreachable) there is nothing to hand back.
shutdown.signal.addEventListener("abort", () => {
  if (!started) process.exit(0);
});

try {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const handle = await startEarlyStop({
    config,
    kubeConfig,
    log,
    identity: `${config.podName ?? hostname()}_${process.pid}`,
    processMetrics: true,
  });
  started = true;
  if (!shutdown.signal.aborted)
    await new Promise((resolve) => shutdown.signal.addEventListener("abort", resolve, { once: true }));
  await handle.stop();
  // Everything is handed back and drained; client-node's kept-alive API connections would
  // still hold the event loop open for minutes.
  process.exit(0);
} catch (err) {
  log.fatal({ err }, "early-stop failed to start");
  process.exit(1);
}
