import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { LABEL_RUN } from "@nnunet-operator/api";
import {
  type Clock,
  EventRecorder,
  type KubeObject,
  type KubePort,
  type LeaderElectionConfig,
  LeaderElector,
  labelKey,
  ownKey,
  referenceOf,
  promWorkQueueMetrics,
  systemClock,
  WorkQueue,
} from "@nnunet-operator/kube";
import { ConfigError, DEFAULT_STATUS_MIN_INTERVAL_SECONDS, type OperatorConfig } from "./config.js";
import { OperatorMetrics } from "./metrics.js";
import { isPodActive, podGpuRequest } from "./trainingrun/decide/objects.js";
import { foldCredentialIssuer, type FoldSigning } from "./trainingrun/fold-credentials.js";
import { ProgressCache, runProgressFeed } from "./trainingrun/progress-feed.js";
import { type EventSink, TrainingRunReconciler } from "./trainingrun/reconciler.js";
import { AdmissionScheduler } from "./trainingrun/scheduler.js";
import { World } from "./trainingrun/world.js";

// The operator's moving parts, wired: informers (always running, so a standby replica is
// warm and ready), the leader election, and while leading the admission loop (one scheduler
// over every run's wanted GPU work) and a work queue whose workers run the per-run
// reconciler, `concurrency` of them at once (default 4). main.ts builds the ports and hands them in; the integration tests and
// the benchmark build an Operator the same way.

export interface OperatorOptions {
  port: KubePort;
  config: OperatorConfig;
  logger: Logger;
  registry: Registry;
  /** Unique per replica (POD_NAME plus a random suffix). */
  identity: string;
  clock?: Clock;
  /** Reconciles of different runs at once (default 4); admission is one loop whatever this is. */
  concurrency?: number;
  /** An admission cycle over more runs, pods and Jobs than this yields to the event loop between its steps (default 5,000). */
  admissionSliceAboveObjects?: number;
  leaderElection?: Partial<LeaderElectionConfig>;
  leaseName?: string;
  statusMinIntervalSeconds?: number;
  /** Waiting runs are looked at again at least this often (queue positions, missing claims). */
  waitingResyncSeconds?: number;
  /** NATS auth: the account signing key that mints each fold attempt's credential. */
  foldSigning?: FoldSigning;
  /** NATS: the epoch feed fills the progress cache (a replay of the stream, then live). */
  bus?: { nc: NatsConnection; js: JetStreamClient };
}

/**
 * Events are fire-and-forget for the reconciler; without a bound, a burst of transitions
 * (a thousand runs admitted at once) opens as many concurrent API requests. At most
 * `concurrency` in flight, a bounded backlog, and beyond it a dropped event (logged). A queued
 * event keeps only the object's reference, not the object (a full backlog of whole runs held
 * 15 MB at 10,000 runs).
 */
export function boundedEvents(
  recorder: Pick<EventRecorder, "record">,
  concurrency: number,
  maxBacklog: number,
  onDrop: () => void,
): EventSink {
  let inFlight = 0;
  const backlog: Array<() => Promise<void>> = [];
  const next = (): void => {
    while (inFlight < concurrency && backlog.length > 0) {
      const job = backlog.shift()!;
      inFlight += 1;
      void job().finally(() => {
        inFlight -= 1;
        next();
      });
    }
  };
  return {
    event: (object, type, reason, note) => {
      if (backlog.length >= maxBacklog) {
        onDrop();
        return Promise.resolve();
      }
      const regarding = referenceOf(object);
      return new Promise<void>((resolve) => {
        backlog.push(() => recorder.record({ regarding, type, reason, note }).then(resolve));
        next();
      });
    },
  };
}

/** A run still waiting for something a cluster change may bring (GPUs, a node, a claim). */
function waiting(run: KubeObject): boolean {
  const status = run.status as { phase?: string; queue?: { reason?: string } } | undefined;
  return !status?.phase || status.queue?.reason !== undefined;
}

export class Operator {
  readonly world: World;
  readonly metrics: OperatorMetrics;
  readonly progress = new ProgressCache();
  readonly reconciler: TrainingRunReconciler;
  readonly scheduler: AdmissionScheduler;
  private queue: WorkQueue | undefined;
  private readonly elector: LeaderElector;
  private readonly clock: Clock;

  constructor(private readonly options: OperatorOptions) {
    const { port, config, logger, registry } = options;
    // Each fold's pod mounts a credential minted with the signing key; without the key no
    // fold could start, so the operator refuses to start rather than leave pods waiting.
    if (config.nats.auth && !options.foldSigning)
      throw new ConfigError(
        "nats.auth is set but the operator has no account signing key to mint fold credentials: pass foldSigning (main.ts reads nats.auth.signingKeyFile), or remove nats.auth to use one shared credential",
        ["nats.auth"],
      );
    this.clock = options.clock ?? systemClock;
    this.metrics = new OperatorMetrics(registry);
    this.world = new World(port, config, (err) => logger.warn({ err }, "informer error"));
    const recorder = new EventRecorder({
      port,
      reporter: { controller: "nnunet-operator", instance: options.identity },
      clock: this.clock,
      onError: (err, input) => logger.warn({ err, reason: input.reason }, "event not recorded"),
    });
    this.scheduler = new AdmissionScheduler({
      world: this.world,
      config,
      clock: this.clock,
      // A grant's GPUs idle until its Jobs exist: its pass goes ahead of status refreshes.
      onChange: (key, granted) => (granted ? this.queue?.addFirst(key) : this.enqueue(key)),
      onError: (err) => logger.error({ err }, "admission cycle failed"),
      ...(options.admissionSliceAboveObjects !== undefined
        ? { sliceAboveObjects: options.admissionSliceAboveObjects }
        : {}),
    });
    this.reconciler = new TrainingRunReconciler({
      port,
      world: this.world,
      scheduler: this.scheduler,
      progress: this.progress,
      config,
      events: boundedEvents(recorder, 4, 5000, () => logger.warn("event backlog full: dropping an event")),
      metrics: this.metrics,
      logger,
      clock: this.clock,
      ...(options.foldSigning ? { beforeCreateJobs: foldCredentialIssuer(port, options.foldSigning) } : {}),
      statusMinIntervalSeconds: options.statusMinIntervalSeconds ?? DEFAULT_STATUS_MIN_INTERVAL_SECONDS,
    });
    this.elector = new LeaderElector({
      port,
      namespace: config.namespace,
      name: options.leaseName ?? "nnunet-operator",
      identity: options.identity,
      clock: this.clock,
      ...(options.leaderElection ? { config: options.leaderElection } : {}),
      onStartedLeading: (signal) => this.lead(signal),
      onNewLeader: (leader) => logger.info({ leader }, "leader"),
      onError: (err) => logger.warn({ err }, "leader election"),
    });
    this.wire();
  }

  private enqueue = (key: string): void => this.queue?.add(key);

  private wire(): void {
    const { runs, jobs, pods, nodes, claims, configMaps } = this.world.informers;
    const sink = { add: this.enqueue };
    runs.onChange(ownKey, sink);
    jobs.onChange(labelKey(LABEL_RUN), sink);
    pods.onChange(labelKey(LABEL_RUN), sink);
    // Capacity and holds change with nodes, with GPU pods ending (ours or not), with our Jobs
    // going, with claims and with runs leaving: the admission loop looks again (coalesced, so
    // a node flapping is one cycle); the runs whose grant or wait changed are enqueued by it.
    const schedule = (): void => {
      if (this.queue) this.scheduler.trigger();
    };
    nodes.addHandler(schedule);
    claims.addHandler(schedule);
    configMaps.addHandler(schedule);
    jobs.addHandler((c) => {
      if (c.type === "deleted") schedule();
    });
    pods.addHandler((c) => {
      const freed =
        c.type === "deleted"
          ? isPodActive(c.object as never)
          : c.type === "updated" && isPodActive(c.old as never) && !isPodActive(c.object as never);
      if (freed && podGpuRequest((c.object as { spec?: never }).spec) > 0) schedule();
    });
    runs.addHandler((c) => {
      if (c.type === "deleted") this.scheduler.forget(`${c.object.metadata.namespace}/${c.object.metadata.name}`);
    });
  }

  isLeader(): boolean {
    return this.elector.isLeader();
  }

  /** Ready: every informer has listed once. */
  ready(): boolean {
    return this.world.hasSynced();
  }

  queueLength(): number {
    return this.queue?.len() ?? 0;
  }

  /** Gauges that describe the whole cache, refreshed per scrape. */
  refreshGauges(): void {
    const runPhases: string[] = [];
    const foldPhases: string[] = [];
    const queued = new Map<string, number>();
    const stalled: Array<{ namespace: string; run: string; fold: string }> = [];
    for (const run of this.world.runs()) {
      const status = run.status as
        | { phase?: string; folds?: Array<{ fold: string; phase: string; reason?: string }> }
        | undefined;
      const queue = (run.spec as { queue?: string } | undefined)?.queue ?? "default";
      if (status?.phase) runPhases.push(status.phase);
      for (const f of status?.folds ?? []) {
        foldPhases.push(f.phase);
        if (f.phase === "Queued") queued.set(queue, (queued.get(queue) ?? 0) + 1);
        // A first epoch that never came is a stall before the first epoch (decide/stall.ts).
        if (
          f.reason === "StreamLost" ||
          (f.phase === "Restarting" && (f.reason === "Stalled" || f.reason === "FirstEpochTimeout"))
        )
          stalled.push({ namespace: run.metadata.namespace ?? "default", run: run.metadata.name ?? "", fold: f.fold });
      }
    }
    this.metrics.setPhases(runPhases, foldPhases);
    this.metrics.setStalled(stalled);
    this.metrics.setQueueLengths(
      queued,
      this.options.config.queues.map((q) => q.name),
    );
  }

  /** Runs informers and the election until `signal` aborts; reconciles only while leading. */
  async run(signal: AbortSignal): Promise<void> {
    const { bus, logger } = this.options;
    const feed = bus
      ? runProgressFeed(
          {
            ...bus,
            cache: this.progress,
            now: () => new Date(this.clock.now()),
            onProgress: this.enqueue,
            onMalformed: (reason, detail) => logger.warn({ reason, detail }, "malformed epoch message"),
            onError: (err) => logger.warn({ err }, "epoch replay skipped"),
          },
          signal,
        ).catch((err) => logger.warn({ err }, "epoch feed ended"))
      : undefined;
    const informers = this.world.run(signal);
    await Promise.all([informers, this.elector.run(signal), feed]);
    this.scheduler.stop();
  }

  private async lead(signal: AbortSignal): Promise<void> {
    const { logger, registry } = this.options;
    // A Job missing from an unsynced cache would look like a lost attempt: wait for all.
    if (!(await this.world.waitForSync(signal))) return;
    const queue = new WorkQueue({
      concurrency: this.options.concurrency ?? 4,
      clock: this.clock,
      metrics: promWorkQueueMetrics(registry, "trainingruns"),
      onError: (key, err, retrying) => logger.warn({ err, key, retrying }, "reconcile failed"),
    });
    this.queue = queue;
    logger.info("leading: reconciling");
    for (const run of this.world.runs()) queue.add(`${run.metadata.namespace}/${run.metadata.name}`);
    // Positions and capacity messages of waiting runs move with every cycle without making
    // them worth a pass each (scheduler.ts): refresh them this often.
    const resync = setInterval(
      () => {
        this.scheduler.trigger();
        for (const run of this.world.runs())
          if (waiting(run)) queue.add(`${run.metadata.namespace}/${run.metadata.name}`);
      },
      (this.options.waitingResyncSeconds ?? 60) * 1000,
    );
    try {
      await queue.run((key) => this.reconciler.reconcile(key), signal);
    } finally {
      clearInterval(resync);
      this.scheduler.stop();
      if (this.queue === queue) this.queue = undefined;
      logger.info("stopped leading");
    }
  }
}
