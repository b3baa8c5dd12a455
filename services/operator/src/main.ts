import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { connectBus, drainOnAbort } from "@nnunet-operator/bus";
import { ClientPort, promKubeRequestMetrics } from "@nnunet-operator/kube";
import type { Logger } from "pino";
import { applyEnvOverrides, ConfigError, type OperatorEnv, parseOperatorConfig, readProcessEnv } from "./config.js";
import { ensureNatsAuthSecret } from "./nats-auth-secret.js";
import { Operator } from "./controller.js";
import { buildServer } from "./server.js";

// The composition root: reads the environment and the configuration file, builds the
// ports (kube, NATS), the operator and its two HTTP servers, and stops everything on one
// AbortSignal (SIGTERM/SIGINT): servers close, the queue drains, the Lease is released,
// informers stop, NATS drains.

async function main(): Promise<void> {
  const env = readProcessEnv();
  const logger = pino({ name: "nnunet-operator", level: env.LOG_LEVEL });
  if (process.argv[2] === "nats-bootstrap") return natsBootstrap(env, logger);
  const config = applyEnvOverrides(
    parseOperatorConfig(await readFile(env.NNUNET_OPERATOR_CONFIG, "utf8"), env.NNUNET_OPERATOR_CONFIG),
    env,
  );
  const controller = new AbortController();
  const { signal } = controller;
  for (const s of ["SIGTERM", "SIGINT"] as const) process.once(s, () => controller.abort());

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const port = new ClientPort(kc, { fieldManager: "nnunet-operator", onRequest: promKubeRequestMetrics(registry) });

  // The servers come first: liveness must answer while NATS or the API server is slow to
  // reach, and readiness says "not ready" until the caches synced.
  let operator: Operator | undefined;
  const metricsServer = buildServer({
    registry,
    ready: () => operator?.ready() ?? false,
    beforeScrape: () => operator?.refreshGauges(),
    logger,
    serve: { metrics: true, webhook: false },
  });
  const [cert, key] = await Promise.all([
    readFile(join(env.WEBHOOK_CERT_DIR, "tls.crt")),
    readFile(join(env.WEBHOOK_CERT_DIR, "tls.key")),
  ]);
  const webhookServer = buildServer({
    registry,
    ready: () => true,
    queues: config.queues.map((q) => q.name),
    config,
    logger,
    serve: { metrics: false, webhook: true },
    https: { cert, key },
  });
  await metricsServer.listen({ host: "0.0.0.0", port: env.HTTP_PORT });
  await webhookServer.listen({ host: "0.0.0.0", port: env.WEBHOOK_PORT });
  const closeServers = (): void => void Promise.all([metricsServer.close(), webhookServer.close()]);
  if (signal.aborted) closeServers();
  else signal.addEventListener("abort", closeServers, { once: true });

  const auth = config.nats.auth;
  const nc = await connectBus({
    servers: config.nats.url,
    name: `nnunet-operator/${env.POD_NAME ?? hostname()}`,
    credsFile: auth?.credsFile,
    tlsCaFile: config.nats.tlsCaFile,
    signal,
  });
  const foldSigning = auth && {
    accountSigningSeed: (await readFile(auth.signingKeyFile, "utf8")).trim(),
    accountPublicKey: (await readFile(auth.accountPublicKeyFile, "utf8")).trim(),
    caPem: config.nats.tlsCaFile ? await readFile(config.nats.tlsCaFile, "utf8") : undefined,
  };
  const js = jetstream(nc);
  operator = new Operator({
    port,
    config,
    logger,
    registry,
    identity: `${env.POD_NAME ?? hostname()}_${randomBytes(4).toString("hex")}`,
    statusMinIntervalSeconds: env.STATUS_MIN_INTERVAL_SECONDS,
    ...(foldSigning ? { foldSigning } : {}),
    bus: { nc, js },
  });
  logger.info(
    { httpPort: env.HTTP_PORT, webhookPort: env.WEBHOOK_PORT, namespace: config.namespace },
    "operator started",
  );

  await operator.run(signal);
  await drainOnAbort(nc, signal);
  logger.info("operator stopped");
}

/** The chart's hook Job: creates the NATS auth Secret once (an existing one keeps its keys; stale service credentials are minted again), then exits. */
async function natsBootstrap(env: OperatorEnv, logger: Logger): Promise<void> {
  if (!env.POD_NAMESPACE || !env.NATS_AUTH_SECRET)
    throw new ConfigError("nats-bootstrap needs POD_NAMESPACE and NATS_AUTH_SECRET", [
      "POD_NAMESPACE",
      "NATS_AUTH_SECRET",
    ]);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const outcome = await ensureNatsAuthSecret(
    new ClientPort(kc, { fieldManager: "nnunet-operator" }),
    env.POD_NAMESPACE,
    env.NATS_AUTH_SECRET,
  );
  logger.info({ namespace: env.POD_NAMESPACE, secret: env.NATS_AUTH_SECRET, ...outcome }, "NATS auth Secret ready");
}

main().catch((err: unknown) => {
  // The one place that may end the process: the composition root.
  console.error(err);
  process.exitCode = 1;
});
