import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { Logger } from "pino";
import {
  ConditionType,
  type FoldStatus,
  LEGACY_FINALIZER,
  setCondition,
  type TrainingRun,
  type TrainingRunStatus,
} from "@nnunet-operator/api";
import {
  type Clock,
  defaultIsRetryable,
  type KubeObject,
  type KubePort,
  type ProcessResult,
  Resources,
  splitKey,
} from "@nnunet-operator/kube";
import type { OperatorConfig } from "../config.js";
import type { OperatorMetrics } from "../metrics.js";
import { mergePatchBetween, performActions } from "./act.js";
import { isPodActive, podGpuRequest } from "./decide/objects.js";
import type { RunWorld } from "./decide/parts.js";
import { decideRun, type RunPlan } from "./decide/run.js";
import { decideStatusWrite } from "./decide/status-write.js";
import type { ProgressCache } from "./progress-feed.js";
import { QueueOutlookCache } from "./queue-outlook.js";
import { TakenJobNames } from "./taken-names.js";
import type { AdmissionScheduler } from "./scheduler.js";
import type { World } from "./world.js";

// read -> decide -> act for one TrainingRun, keyed by namespace/name. Level-triggered: the
// work queue carries keys, every pass re-reads the run and its world from the informer
// caches, asks the pure core for a plan with the GPU work the admission loop granted the run
// (scheduler.ts), and performs it: status first (status subresource, merge patch), then the
// plan's writes in order, then its events; last it publishes what the run still wants to the
// admission loop. Nothing here decides what a run needs or gets; this file only reads,
// writes, counts and classifies errors. Passes of different runs may run concurrently.

export interface EventSink {
  event(object: KubeObject, type: "Normal" | "Warning", reason: string, note: string): Promise<void>;
}

export interface ReconcilerDeps {
  port: Pick<KubePort, "create" | "delete" | "get" | "patch" | "patchStatus">;
  world: World;
  scheduler: AdmissionScheduler;
  progress: ProgressCache;
  config: OperatorConfig;
  events: EventSink;
  metrics: OperatorMetrics;
  logger: Logger;
  clock: Clock;
  /** Stores each fold attempt's NATS credential before its Job is created; absent without NATS auth. */
  beforeCreateJobs?: (jobs: readonly IJob[]) => Promise<void>;
  /** Progress-only status writes at most this often. */
  statusMinIntervalSeconds: number;
}

/** A failure retrying cannot fix: the run gets a condition saying so and is not requeued. */
export class TerminalReconcileError extends Error {
  override readonly name = "TerminalReconcileError";
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const CONTROLLER = "trainingrun";

export class TrainingRunReconciler {
  private readonly lastStatusWrite = new Map<string, Date>();
  /** Runs (by uid) whose legacy finalizer could not be removed while live: tried again on deletion only. */
  private readonly legacyFinalizerKept = new Set<string>();
  private readonly takenNames: TakenJobNames;
  private readonly outlook: QueueOutlookCache;

  constructor(private readonly deps: ReconcilerDeps) {
    this.takenNames = new TakenJobNames(deps.port);
    this.outlook = new QueueOutlookCache(deps.world);
  }

  async reconcile(key: string): Promise<ProcessResult> {
    const started = this.deps.clock.now();
    let result = "success";
    try {
      const out = await this.pass(key);
      if (out) result = "requeue";
      return out;
    } catch (err) {
      result = "error";
      this.deps.metrics.reconcileErrors.inc({ controller: CONTROLLER, reason: errorReason(err) });
      throw err;
    } finally {
      this.deps.metrics.reconcileDuration.observe(
        { controller: CONTROLLER, result },
        (this.deps.clock.now() - started) / 1000,
      );
    }
  }

  private async pass(key: string): Promise<ProcessResult> {
    const { world, logger } = this.deps;
    const raw = world.informers.runs.store.get(key);
    if (!raw) {
      this.forget(key, undefined);
      return undefined;
    }
    if (raw.metadata.deletionTimestamp) return this.finalize(key, raw);
    const parsed = world.parse(raw);
    if (!parsed.ok) {
      // The webhook keeps such runs out; without it, say why and wait for an edit.
      const message = parsed.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
      await this.writeTerminalCondition(raw, undefined, "InvalidSpec", message);
      logger.warn(
        { trainingRun: raw.metadata.name, namespace: raw.metadata.namespace, errors: parsed.errors },
        "invalid TrainingRun",
      );
      return undefined;
    }
    if (hasLegacyFinalizer(raw) && !this.legacyFinalizerKept.has(raw.metadata.uid ?? "")) {
      try {
        await this.removeLegacyFinalizer(raw);
        // remember() keeps the watch event of our own write from requeueing: go on at once.
        return { requeueAfterMs: 1 };
      } catch (err) {
        // A webhook may refuse any update of a run that no longer passes today's rules; the
        // run trains on, and deletion removes the finalizer (the webhook admits that).
        this.legacyFinalizerKept.add(raw.metadata.uid ?? "");
        logger.warn(
          { err, trainingRun: raw.metadata.name, namespace: raw.metadata.namespace },
          "could not remove the legacy finalizer; it goes when the run is deleted",
        );
      }
    }
    try {
      return await this.act(key, raw, parsed.run);
    } catch (err) {
      if (!defaultIsRetryable(err)) {
        await this.writeTerminalCondition(raw, parsed.run, "ReconcileFailed", (err as Error).message);
        throw err instanceof TerminalReconcileError
          ? err
          : new TerminalReconcileError((err as Error).message, { cause: err });
      }
      throw err;
    }
  }

  private async act(key: string, raw: KubeObject, run: TrainingRun): Promise<ProcessResult> {
    const { world, scheduler, port, logger, metrics } = this.deps;
    const now = new Date(this.deps.clock.now());
    const log = logger.child({ trainingRun: run.metadata.name, namespace: run.metadata.namespace });
    const base = this.runWorld(key, run, await this.takenNames.recheck(key, run));
    const plan = decideRun(run, base, now);

    const write = decideStatusWrite(run.status, plan.status, {
      now,
      lastWriteAt: this.lastStatusWrite.get(key),
      minIntervalSeconds: this.deps.statusMinIntervalSeconds,
    });
    if (write.write) {
      const patch = {
        metadata: { resourceVersion: raw.metadata.resourceVersion },
        status: mergePatchBetween(raw.status ?? {}, plan.status),
      };
      const updated = await port.patchStatus(Resources.trainingRuns, splitKey(key), patch, { type: "merge" });
      world.remember("runs", updated);
      this.lastStatusWrite.set(key, now);
    }
    const done = await performActions(
      port,
      plan.actions,
      (kind, object) => world.remember(kind, object),
      this.deps.beforeCreateJobs,
    );
    this.takenNames.remember(key, done.foreign);
    for (const a of plan.actions) log.info({ action: a.verb, why: a.why }, "acted");
    for (const e of plan.events) void this.deps.events.event(raw, e.type, e.reason, e.message);
    // After the writes, so that the Jobs of used grants are in the cache: the admission loop
    // then counts them as reservations instead of assumed grants.
    scheduler.publish(run, plan.wants);
    this.observe(run, plan, done.created, now);
    metrics.setRun({
      namespace: run.metadata.namespace ?? "default",
      run: run.metadata.name ?? "",
      gpusInUse: base.pods
        .filter((p) => isPodActive(p) && p.spec?.nodeName)
        .reduce((s, p) => s + podGpuRequest(p.spec), 0),
      gpuSecondsUsed: plan.status.totals?.gpuSecondsUsed ?? 0,
      gpuSecondsSaved: plan.status.totals?.gpuSecondsSaved ?? 0,
      batchSize:
        plan.status.calibration?.batchSize !== undefined
          ? { value: plan.status.calibration.batchSize, source: plan.status.calibration.source ?? "Plans" }
          : undefined,
    });
    metrics.setOutlook(
      run.metadata.namespace ?? "default",
      run.metadata.name ?? "",
      new Map(
        (plan.status.folds ?? []).flatMap((f) =>
          f.predictedFinishAt !== undefined ? [[f.fold, f.predictedFinishAt] as const] : [],
        ),
      ),
      plan.status.queue?.estimatedStartAt,
    );
    // The writes went into the caches without the watch events that would requeue the run
    // (remember() swallows them), so look again at once: the status should show them.
    if (plan.actions.length > 0) return { requeueAfterMs: 1 };
    const waits = [plan.requeueAfterSeconds, write.requeueAfterSeconds].filter((s): s is number => s !== undefined);
    return waits.length > 0 ? { requeueAfterMs: Math.max(100, Math.min(...waits) * 1000) } : undefined;
  }

  /** The world of one run as the pure decisions take it, with its grant from the admission loop. */
  private runWorld(key: string, run: TrainingRun, taken: readonly IJob[]): RunWorld {
    const { world, config, progress, scheduler } = this.deps;
    const ns = run.metadata.namespace ?? "default";
    const name = run.metadata.name ?? "";
    const children = world.childrenOf(ns, name, run.metadata.uid);
    const labelled = new Set(children.foreignJobs.map((j) => j.metadata?.name));
    const admission = scheduler.admissionOf(key);
    return {
      config,
      jobs: children.jobs,
      pods: children.pods,
      foreignJobs: [...children.foreignJobs, ...taken.filter((j) => !labelled.has(j.metadata?.name))],
      nodes: world.nodes(),
      calibrationCache: world.calibrationCache(ns).data,
      claimExists: world.claimExists(ns, run.spec.storage.claimName),
      admission,
      progress: progress.of(run.metadata.uid),
      heartbeats: progress.heartbeatsOf(run.metadata.uid),
      feedSince: progress.feedSince,
      // The estimated start reads the other runs' statuses (when their training folds free
      // GPUs, who waits ahead); only a run with a place in the queue has one.
      ...(admission.wait?.position !== undefined ? { queueOutlook: this.outlook.outlook() } : {}),
    };
  }

  /** Queue wait and admitted folds, from the Jobs this pass created. */
  private observe(run: TrainingRun, plan: RunPlan, created: readonly string[], now: Date): void {
    // An audit is priced once, when its fold has trained its schedule: the stored status
    // did not have the cost yet and the new one has (an operator restart reads it back).
    for (const f of plan.status.folds ?? []) {
      const audit = f.audit;
      if (audit?.epochsSaved === undefined) continue;
      if (run.status?.folds?.find((o) => o.fold === f.fold)?.audit?.epochsSaved !== undefined) continue;
      this.deps.metrics.observeAudit(audit.policy, audit.bestEmaLost, audit.gpuSecondsSaved);
    }
    const queue = run.spec.queue;
    const queuedAt = plan.status.queue?.queuedAt;
    for (const name of created) {
      if (!/-fold-[^-]+$/.test(name)) continue;
      const fold = plan.status.folds?.find((f: FoldStatus) => name.endsWith(`-fold-${f.fold}`));
      if (fold && fold.attempt > 0) continue; // a restart is not a new admission
      this.deps.metrics.admittedFolds.inc({ queue });
      if (queuedAt)
        this.deps.metrics.queueWait.observe({ queue }, Math.max(0, (now.getTime() - Date.parse(queuedAt)) / 1000));
    }
  }

  /**
   * Takes the legacy finalizer off, keeping any others (merge patch of the whole list,
   * guarded by the resourceVersion it was read at).
   */
  private async removeLegacyFinalizer(raw: KubeObject): Promise<void> {
    const rest = (raw.metadata.finalizers ?? []).filter((f) => f !== LEGACY_FINALIZER);
    const updated = await this.deps.port.patch(
      Resources.trainingRuns,
      splitKey(runKeyOf(raw)),
      { metadata: { resourceVersion: raw.metadata.resourceVersion, finalizers: rest.length > 0 ? rest : null } },
      { type: "merge" },
    );
    this.deps.world.remember("runs", updated);
  }

  /**
   * Deletion: children go by owner references and early-stop purges the run's epochs; a run
   * an older operator gave its finalizer is let go here.
   */
  private async finalize(key: string, raw: KubeObject): Promise<ProcessResult> {
    if (hasLegacyFinalizer(raw)) await this.removeLegacyFinalizer(raw);
    this.forget(key, raw.metadata.uid);
    return undefined;
  }

  private forget(key: string, uid: string | undefined): void {
    const { namespace, name } = splitKey(key);
    if (uid !== undefined) this.legacyFinalizerKept.delete(uid);
    this.lastStatusWrite.delete(key);
    this.takenNames.forget(key);
    this.deps.scheduler.forget(key);
    this.deps.world.forget(key);
    this.deps.progress.forget(uid);
    this.deps.metrics.forgetRun(namespace ?? "default", name);
  }

  /** Ready=False with the reason, written on the stored status; best effort. */
  private async writeTerminalCondition(
    raw: KubeObject,
    run: TrainingRun | undefined,
    reason: string,
    message: string,
  ): Promise<void> {
    const stored = (raw.status ?? {}) as TrainingRunStatus;
    const generation = raw.metadata.generation ?? 0;
    const { conditions, changed } = setCondition(
      stored.conditions ?? [],
      {
        type: ConditionType.Ready,
        status: "False",
        reason,
        message: message.slice(0, 2000),
        observedGeneration: generation,
      },
      new Date(this.deps.clock.now()),
    );
    if (!changed) return;
    try {
      const updated = await this.deps.port.patchStatus(
        Resources.trainingRuns,
        splitKey(runKeyOf(raw)),
        { status: { conditions } },
        { type: "merge" },
      );
      this.deps.world.remember("runs", updated);
      void this.deps.events.event(raw, "Warning", reason, message);
    } catch (err) {
      this.deps.logger.error(
        { err, trainingRun: run?.metadata.name ?? raw.metadata.name },
        "could not record the terminal condition",
      );
    }
  }
}

function hasLegacyFinalizer(raw: KubeObject): boolean {
  return (raw.metadata.finalizers ?? []).includes(LEGACY_FINALIZER);
}

function runKeyOf(raw: KubeObject): string {
  return `${raw.metadata.namespace ?? "default"}/${raw.metadata.name ?? ""}`;
}

function errorReason(err: unknown): string {
  const e = err as { reason?: unknown; name?: unknown };
  return typeof e?.reason === "string" ? e.reason : typeof e?.name === "string" ? e.name : "Unknown";
}
