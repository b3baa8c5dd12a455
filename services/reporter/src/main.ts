import { access, constants } from "node:fs/promises";
import { pino } from "pino";
import { realNow, realSleep } from "./clock.js";
import { ConfigError, readReporterConfig, type ReporterConfig } from "./config.js";
import { buildReporterMetrics, serveMetrics } from "./metrics.js";
import { decisionSubject } from "@nnunet-operator/bus";
import { keepCheckpointAtDecision } from "./keep-checkpoint.js";
import { NatsReporterBus } from "./nats-bus.js";
import { EpochPublisher } from "./publish.js";
import { Reporter } from "./reporter.js";

// Composition root of the reporter sidecar (the image runs this file with no arguments;
// the training Job gives the container no command or args, only the environment).
// SIGTERM or SIGINT aborts one AbortController: the tail stops, what is buffered is
// published for up to REPORTER_SHUTDOWN_MS, NATS is drained, and the process exits 0.
// The exit code is non-zero only for a bad configuration (2): a NATS outage or an
// unreadable log must never end the sidecar, let alone the training beside it.

const EXIT_CONFIG = 2;
const DRAIN_MS = 2000;
const PUBLISH_TIMEOUT_MS = 2000;

async function loadConfig(): Promise<ReporterConfig> {
  const config = readReporterConfig();
  const creds = config.nats.credsFile;
  if (creds !== undefined) {
    try {
      await access(creds, constants.R_OK);
    } catch (cause) {
      throw new ConfigError(
        `invalid reporter environment: NATS_CREDS_FILE ${JSON.stringify(creds)} cannot be read: mount the NATS credentials Secret there, or unset NATS_CREDS_FILE`,
        ["NATS_CREDS_FILE"],
        { cause },
      );
    }
  }
  return config;
}

async function main(): Promise<number> {
  let config: ReporterConfig;
  try {
    config = await loadConfig();
  } catch (err) {
    pino({ base: { service: "reporter" } }).fatal(
      { variables: err instanceof ConfigError ? err.variables : undefined },
      err instanceof Error ? err.message : String(err),
    );
    return EXIT_CONFIG;
  }
  const { identity } = config;
  const logger = pino({
    level: config.logLevel,
    base: {
      service: "reporter",
      namespace: identity.namespace,
      trainingRun: identity.run,
      fold: identity.fold,
      attempt: identity.attempt,
    },
  });
  process.on("unhandledRejection", (err) =>
    logger.error({ err }, "unhandled rejection (ignored: the reporter keeps running)"),
  );

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) return;
    logger.info({ signal }, "stopping");
    abort.abort();
    // However shutdown goes, the process is gone within this bound.
    setTimeout(() => process.exit(0), config.shutdownMs + PUBLISH_TIMEOUT_MS + DRAIN_MS + 1000).unref();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const metrics = buildReporterMetrics();
  let publisher: EpochPublisher | undefined;
  const bus = new NatsReporterBus({
    servers: config.nats.servers,
    name: `reporter/${identity.namespace}/${identity.run}/${identity.fold}/${identity.attempt}`,
    credsFile: config.nats.credsFile,
    tlsCaFile: config.nats.tlsCaFile,
    fold: identity,
    publishTimeoutMs: PUBLISH_TIMEOUT_MS,
    logger,
    sleep: realSleep,
    // Back up: retry at once, and (first time) learn where this attempt left off in the stream.
    onUp: () => {
      publisher?.wake();
      publisher?.resume().catch(() => undefined);
    },
    // An audit's would-be stop: keep checkpoint_best.pth as it stands now (keep-checkpoint.ts).
    responder: {
      subject: decisionSubject(identity),
      answer: async (data) => {
        const reply = await keepCheckpointAtDecision(config.foldDir, data);
        if (reply.kept) logger.info({ file: reply.file }, "kept checkpoint_best.pth as of the would-be stop (audit)");
        else logger.warn({ error: reply.error }, "could not keep checkpoint_best.pth for the audit");
        return new TextEncoder().encode(JSON.stringify(reply));
      },
    },
  });
  publisher = new EpochPublisher({
    bus,
    identity,
    maxBuffered: config.bufferMax,
    sleep: realSleep,
    events: {
      published: (epoch, duplicate) => {
        metrics.published.inc();
        logger.debug({ epoch, duplicate }, "epoch published");
      },
      dropped: (epoch, buffered) => {
        metrics.dropped.inc();
        logger.warn({ epoch, buffered }, "buffer full: epoch dropped");
      },
      rejected: (epoch, err) => logger.error({ epoch, err }, "epoch refused for good; skipped"),
      failed: (epoch, err, consecutive, retryInMs) => {
        // One line when trouble starts, then one a minute or so: an outage must not flood the log.
        if (consecutive === 1 || consecutive % 30 === 0)
          logger.warn(
            {
              epoch,
              err: err instanceof Error ? err.message : String(err),
              consecutive,
              retryInMs,
              buffered: publisher?.buffered,
            },
            "publish failed; buffering and retrying",
          );
      },
      recovered: (afterFailures) => logger.info({ afterFailures, buffered: publisher?.buffered }, "publishing again"),
      resumed: (lastStored, err) => {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
        if (err !== undefined)
          logger.info(
            { err: err instanceof Error ? err.message : String(err), cause },
            "cannot ask the stream where this attempt left off: publishing every epoch (duplicates are dropped)",
          );
        else if (lastStored === undefined)
          logger.info({}, "stream holds nothing of this attempt: publishing every epoch");
        else logger.info({ lastStored }, "stream holds this attempt up to lastStored: publishing what follows");
      },
    },
  });
  void bus.start(abort.signal);
  if (config.metricsPort !== undefined) {
    try {
      await serveMetrics(metrics.registry, config.metricsPort, abort.signal);
      logger.info({ port: config.metricsPort }, "serving /metrics");
    } catch (err) {
      logger.warn({ err, port: config.metricsPort }, "cannot serve /metrics; running without it");
    }
  }

  const reporter = new Reporter({
    identity,
    foldDir: config.foldDir,
    pollMs: config.pollMs,
    heartbeatMs: config.heartbeatMs,
    statsMs: config.statsMs,
    utcOffset: config.utcOffset,
    publisher,
    heartbeat: (hb) => bus.heartbeat(hb),
    counters: metrics,
    logger,
    now: realNow,
    sleep: realSleep,
    watchFolder: true,
  });
  logger.info(
    { foldDir: config.foldDir, servers: config.nats.servers, bufferMax: config.bufferMax },
    "reporter started",
  );
  await reporter.run(abort.signal);

  const flushed = await publisher.flush(config.shutdownMs);
  await publisher.close();
  await bus.drain(DRAIN_MS);
  logger.info({ ...reporter.stats(), flushed }, "reporter stopped");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Only reachable through a bug: nothing above rejects by design. Not a config error, so 0
    // would hide it and 2 would misname it; kubelet restarts the sidecar either way.
    console.error(err);
    process.exit(1);
  },
);
