import type { KubeConfig } from "@kubernetes/client-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectBus, decisionSubject, purgeRunSubjects, runsWithStoredEpochs } from "@nnunet-operator/bus";
import { CheckpointKept } from "@nnunet-operator/api";
import {
  ClientPort,
  type Clock,
  EventRecorder,
  Informer,
  isNotFound,
  type LeaderElectionConfig,
  LeaderElector,
  promKubeRequestMetrics,
  Resources,
  systemClock,
} from "@nnunet-operator/kube";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { type EarlyStopConfig, streamLimits } from "./config.js";
import { natsEpochSource } from "./consumer.js";
import { EarlyStopController } from "./controller.js";
import { createEarlyStopMetrics } from "./metrics.js";
import { RunPurger } from "./purge.js";
import { RunIndex } from "./runs.js";
import { buildServer } from "./server.js";
import { StreamWatch } from "./stream-watch.js";
import { Terminator } from "./terminator.js";

// Wires the controller from its configuration: the HTTP server first (probes answer while
// NATS is still coming up), the TrainingRun informer (one watch per namespace with
// watchNamespaces), the NATS connection, and leader election whose terms run the controller
// and the purge of deleted runs' epochs. main.ts calls it with the process's environment
// and signals; the integration tests and the latency benchmark call it directly, so they run
// the same composition as production.

export interface StartOptions {
  readonly config: EarlyStopConfig;
  readonly kubeConfig: KubeConfig;
  readonly log: Logger;
  /** Unique per replica. */
  readonly identity: string;
  readonly clock?: Clock;
  readonly leaderElection?: Partial<LeaderElectionConfig>;
  /** Register Node.js process metrics (once per process). */
  readonly processMetrics?: boolean;
}

export interface EarlyStopHandle {
  readonly app: FastifyInstance;
  readonly controller: EarlyStopController;
  readonly registry: Registry;
  /** The TrainingRuns as the informer has them. */
  readonly runs: RunIndex;
  readonly nc: NatsConnection;
  /** Address the HTTP server listens on. */
  readonly url: string;
  isLeader(): boolean;
  /** Hands leadership back, stops consuming, drains NATS, stops the informer, closes the server. */
  stop(): Promise<void>;
}

export async function startEarlyStop(options: StartOptions): Promise<EarlyStopHandle> {
  const { config, log, identity } = options;
  const clock = options.clock ?? systemClock;
  const shutdown = new AbortController();
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const metrics = createEarlyStopMetrics(registry);

  const port = new ClientPort(options.kubeConfig, {
    fieldManager: "nnunet-early-stop",
    onRequest: promKubeRequestMetrics(registry),
    clock,
  });
  const runsInformer = new Informer({
    port,
    resource: Resources.trainingRuns,
    namespaces: config.watchNamespaces,
    clock,
    onError: (err) => log.warn({ err }, "TrainingRun watch failed; retrying"),
  });
  const runs = new RunIndex((key) => runsInformer.store.get(key));
  const events = new EventRecorder({
    port,
    clock,
    reporter: { controller: "nnunet-operator.io/early-stop", instance: identity },
    onError: (err, input) => log.warn({ err, reason: input.reason }, "event not recorded"),
  });

  let natsUp = false;
  let streamWatch: StreamWatch | undefined;
  let leader = "";
  let leading = false;
  const app = buildServer({
    registry,
    readiness: [
      { name: "nats", ok: () => natsUp },
      { name: "trainingRuns", ok: () => runsInformer.hasSynced() },
      { name: "epochStream", ok: () => streamWatch?.ready ?? false },
    ],
    describe: () => ({ identity, leader, leading }),
  });
  const url = await app.listen({ host: config.httpHost, port: config.httpPort });
  log.info({ url, identity }, "serving /metrics, /healthz, /readyz");
  const runsDone = runsInformer.run(shutdown.signal);

  const nc = await connectBus({
    servers: config.natsUrl.split(","),
    name: `early-stop/${identity}`,
    credsFile: config.natsCredsFile,
    tlsCaFile: config.natsTlsCaFile,
    reconnectTimeWaitMs: 250,
    reconnectJitterMs: 250,
  });
  natsUp = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") natsUp = false;
      if (s.type === "reconnect") natsUp = true;
      if (s.type === "disconnect" || s.type === "reconnect") log.info({ status: s.type }, "NATS connection changed");
    }
  })();

  const source = natsEpochSource({
    nc,
    durable: config.durable,
    maxAckPending: config.maxAckPending,
    limits: streamLimits(config),
    onHandlerError: (err, meta) =>
      log.error({ err, subject: meta.subject, seq: meta.streamSequence }, "epoch handler failed; redelivering"),
  });
  const controller = new EarlyStopController({
    source,
    runs,
    waitForRuns: (signal) => runsInformer.waitForSync(signal),
    terminator: new Terminator({ port, events }),
    events,
    metrics,
    clock,
    log,
    tickMs: config.tickSeconds * 1000,
    auditFraction: config.auditFraction,
    keepCheckpoint: async (target, decision) => {
      const reply = await nc.request(decisionSubject(target), JSON.stringify(decision), { timeout: 2000 });
      return CheckpointKept.parse(JSON.parse(reply.string())).kept;
    },
  });
  const purger = new RunPurger({
    cached: (namespace, run) => runsInformer.store.get(`${namespace}/${run}`) !== undefined,
    gone: async (namespace, name) => {
      try {
        await port.get(Resources.trainingRuns, { namespace, name });
        return false;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    },
    stream: {
      purge: async (namespace, run) => purgeRunSubjects(await jetstreamManager(nc), namespace, run),
      runs: async () => runsWithStoredEpochs(await jetstreamManager(nc)),
    },
    namespaces: config.watchNamespaces,
    waitForRuns: (signal) => runsInformer.waitForSync(signal),
    metrics,
    clock,
    log,
    intervalMs: config.purgeSweepMinutes * 60_000,
  });
  runsInformer.addHandler((change) => {
    if (change.type !== "deleted") return;
    const namespace = change.object.metadata.namespace ?? "";
    const name = change.object.metadata.name ?? "";
    controller.forgetRun(namespace, name);
    // The leader purges; a deletion no leader saw is the sweep's.
    if (leading) void purger.deleted(namespace, name);
  });

  streamWatch = new StreamWatch({
    source,
    metrics,
    clock,
    log,
    intervalMs: config.tickSeconds * 1000,
    onRecreated: () => controller.resubscribe(),
  });
  const watching = streamWatch.run(shutdown.signal);

  let term: Promise<void> = Promise.resolve();
  const elector = new LeaderElector({
    port,
    namespace: config.podNamespace,
    name: config.leaseName,
    identity,
    clock,
    ...(options.leaderElection !== undefined && { config: options.leaderElection }),
    onStartedLeading: (signal) => {
      leading = true;
      log.info("leading: consuming epochs");
      term = Promise.all([controller.lead(signal), purger.run(signal)]).then(() => undefined);
      return term;
    },
    onStoppedLeading: () => {
      leading = false;
      log.info("not leading: idle");
    },
    onNewLeader: (id) => {
      leader = id;
      log.info({ leader: id }, "leader observed");
    },
    onError: (err) => log.warn({ err }, "leader election request failed"),
  });
  const electing = elector.run(shutdown.signal);

  let stopping: Promise<void> | undefined;
  return {
    app,
    controller,
    registry,
    runs,
    nc,
    url,
    isLeader: () => elector.isLeader(),
    stop: () =>
      (stopping ??= (async () => {
        shutdown.abort();
        await electing;
        await term;
        await watching;
        natsUp = false;
        await nc.drain().catch((err: unknown) => log.warn({ err }, "NATS drain failed"));
        await runsDone;
        await app.close();
        log.info("stopped");
      })()),
  };
}
