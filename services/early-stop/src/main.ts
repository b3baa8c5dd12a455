import { hostname } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { type TrainingRun } from "@nnunet-operator/api";
import { connectBus } from "@nnunet-operator/bus";
import { ClientPort, EventRecorder, Informer, type KubeObject, LeaderElector, promKubeRequestMetrics, Resources, systemClock } from "@nnunet-operator/kube";
import { pino } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { loadConfig } from "./config.js";
import { natsEpochSource } from "./consumer.js";
import { EarlyStopController } from "./controller.js";
import { createEarlyStopMetrics } from "./metrics.js";
import { RunIndex } from "./runs.js";
import { buildServer } from "./server.js";
import { Terminator } from "./terminator.js";

// Composition root of the early-stop controller: the only place that reads the environment
// (through config.ts), creates clients and wires the parts. One AbortSignal ends it all:
// leadership is handed back, the term stops consuming, NATS drains, informers stop, and
// the HTTP server closes.

const config = loadConfig();
const log = pino({ level: config.logLevel, base: { service: "early-stop" } });
const identity = `${config.podName ?? hostname()}_${process.pid}`;
const shutdown = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => shutdown.abort());

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const metrics = createEarlyStopMetrics(registry);

const kc = new KubeConfig();
kc.loadFromDefault();
const port = new ClientPort(kc, { fieldManager: "nnunet-early-stop", onRequest: promKubeRequestMetrics(registry) });
const runsInformer = new Informer<KubeObject & Partial<Pick<TrainingRun, "spec" | "status">>>({
  port,
  resource: Resources.trainingRuns,
  onError: (err) => log.warn({ err }, "TrainingRun watch failed; retrying"),
});
const runs = new RunIndex((key) => runsInformer.store.get(key));
const events = new EventRecorder({
  port,
  reporter: { controller: "nnunet-operator.io/early-stop", instance: identity },
  onError: (err, input) => log.warn({ err, reason: input.reason }, "event not recorded"),
});

let natsUp = false;
let leader = "";
let leading = false;
const app = buildServer({
  registry,
  readiness: [
    { name: "nats", ok: () => natsUp },
    { name: "trainingRuns", ok: () => runsInformer.hasSynced() },
  ],
  describe: () => ({ identity, leader, leading }),
});
await app.listen({ host: config.httpHost, port: config.httpPort });
log.info({ port: config.httpPort, identity }, "serving /metrics, /healthz, /readyz");

const runsDone = runsInformer.run(shutdown.signal);

const nc: NatsConnection = await connectBus({ servers: config.natsUrl.split(","), name: `early-stop/${identity}`, credsFile: config.natsCredsFile });
natsUp = true;
void (async () => {
  for await (const s of nc.status()) {
    if (s.type === "disconnect") natsUp = false;
    if (s.type === "reconnect") natsUp = true;
    if (s.type === "disconnect" || s.type === "reconnect") log.info({ status: s.type }, "NATS connection changed");
  }
})();

const controller = new EarlyStopController({
  source: natsEpochSource({
    nc,
    durable: config.durable,
    maxAckPending: config.maxAckPending,
    limits: {
      maxAgeMs: config.streamMaxAgeHours * 3600_000,
      maxBytes: config.streamMaxBytes,
      duplicateWindowMs: config.streamDuplicateWindowMinutes * 60_000,
    },
    onHandlerError: (err, meta) => log.error({ err, subject: meta.subject, seq: meta.streamSequence }, "epoch handler failed; redelivering"),
  }),
  runs,
  waitForRuns: (signal) => runsInformer.waitForSync(signal),
  terminator: new Terminator({ port, events }),
  events,
  metrics,
  clock: systemClock,
  log,
  tickMs: config.tickSeconds * 1000,
});
runsInformer.addHandler((change) => {
  if (change.type === "deleted") controller.forgetRun(change.object.metadata.namespace ?? "", change.object.metadata.name ?? "");
});

let term: Promise<void> = Promise.resolve();
const elector = new LeaderElector({
  port,
  namespace: config.podNamespace,
  name: config.leaseName,
  identity,
  onStartedLeading: (signal) => {
    leading = true;
    log.info("leading: consuming epochs");
    term = controller.lead(signal);
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

await elector.run(shutdown.signal);
await term;
natsUp = false;
await nc.drain().catch((err: unknown) => log.warn({ err }, "NATS drain failed"));
await runsDone;
await app.close();
log.info("stopped");
