import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { EARLY_STOP_POLICIES, METRICS, type MetricSpec, RUN_PHASES, FOLD_PHASES } from "@nnunet-operator/api";

// The operator's Prometheus metrics, registered exactly as packages/api's catalogue names
// them (name, type, help, labels, buckets), so the dashboard and alert rules match.

type OperatorKey = {
  [K in keyof typeof METRICS]: (typeof METRICS)[K]["service"] extends "operator" ? K : never;
}[keyof typeof METRICS];

function make(spec: MetricSpec, registry: Registry): Counter | Gauge | Histogram {
  const base = { name: spec.name, help: spec.help, labelNames: [...spec.labels], registers: [registry] };
  switch (spec.type) {
    case "counter":
      return new Counter(base);
    case "gauge":
      return new Gauge(base);
    case "histogram":
      return new Histogram({ ...base, ...(spec.buckets ? { buckets: [...spec.buckets] } : {}) });
  }
}

export interface RunGauges {
  namespace: string;
  run: string;
  gpusInUse: number;
  gpuSecondsUsed: number;
  gpuSecondsSaved: number;
  batchSize?: { value: number; source: string } | undefined;
}

export class OperatorMetrics {
  readonly runs: Gauge;
  readonly queueLength: Gauge;
  readonly queueWait: Histogram;
  readonly admittedFolds: Counter;
  readonly gpusInUse: Gauge;
  readonly reconcileDuration: Histogram;
  readonly reconcileErrors: Counter;
  readonly calibratedBatchSize: Gauge;
  readonly gpuSecondsUsed: Gauge;
  readonly gpuSecondsSaved: Gauge;
  readonly foldsByPhase: Gauge;
  readonly foldPredictedFinish: Gauge;
  readonly runEstimatedStart: Gauge;
  private readonly predictedFolds = new Map<string, Set<string>>();
  readonly auditBestEmaLost: Histogram;
  readonly auditGpuSecondsSaved: Histogram;
  readonly foldStalled: Gauge;
  private readonly batchSources = new Map<string, string>();

  constructor(readonly registry: Registry) {
    const get = <T>(key: OperatorKey): T => make(METRICS[key], registry) as T;
    this.runs = get("runs");
    this.queueLength = get("queueLength");
    this.queueWait = get("queueWait");
    this.admittedFolds = get("admittedFolds");
    this.gpusInUse = get("gpusInUse");
    this.reconcileDuration = get("reconcileDuration");
    this.reconcileErrors = get("reconcileErrors");
    this.calibratedBatchSize = get("calibratedBatchSize");
    this.gpuSecondsUsed = get("gpuSecondsUsed");
    this.gpuSecondsSaved = get("gpuSecondsSaved");
    this.foldsByPhase = get("foldsByPhase");
    this.foldPredictedFinish = get("foldPredictedFinish");
    this.runEstimatedStart = get("runEstimatedStart");
    this.auditBestEmaLost = get("auditBestEmaLost");
    this.auditGpuSecondsSaved = get("auditGpuSecondsSaved");
    // Every policy's series exists from the start at zero, so that rate() and increase()
    // see the first audit too (a series born with its first observation hides it).
    for (const policy of EARLY_STOP_POLICIES) {
      this.auditBestEmaLost.zero({ policy });
      this.auditGpuSecondsSaved.zero({ policy });
    }
    this.foldStalled = get("foldStalled");
  }

  /** An audited fold that has trained its schedule: what its would-be stop would have cost and saved. */
  observeAudit(policy: string, bestEmaLost: number | undefined, gpuSecondsSaved: number | undefined): void {
    if (bestEmaLost !== undefined) this.auditBestEmaLost.observe({ policy }, bestEmaLost);
    if (gpuSecondsSaved !== undefined) this.auditGpuSecondsSaved.observe({ policy }, gpuSecondsSaved);
  }

  /** The folds past their stall deadline (decide/stall.ts), as the last status says; the others have no series. */
  setStalled(folds: ReadonlyArray<{ namespace: string; run: string; fold: string }>): void {
    this.foldStalled.reset();
    for (const f of folds) this.foldStalled.set(f, 1);
  }

  /** Phase counts over every run and fold the cache holds; every phase gets a sample, zero included. */
  setPhases(runPhases: readonly string[], foldPhases: readonly string[]): void {
    for (const phase of RUN_PHASES) this.runs.set({ phase }, 0);
    for (const phase of FOLD_PHASES) this.foldsByPhase.set({ phase }, 0);
    for (const phase of runPhases) this.runs.inc({ phase });
    for (const phase of foldPhases) this.foldsByPhase.inc({ phase });
  }

  setQueueLengths(byQueue: ReadonlyMap<string, number>, queues: readonly string[]): void {
    for (const queue of queues) this.queueLength.set({ queue }, byQueue.get(queue) ?? 0);
  }

  setRun(g: RunGauges): void {
    const labels = { namespace: g.namespace, run: g.run };
    this.gpusInUse.set(labels, g.gpusInUse);
    this.gpuSecondsUsed.set(labels, g.gpuSecondsUsed);
    this.gpuSecondsSaved.set(labels, g.gpuSecondsSaved);
    const key = `${g.namespace}/${g.run}`;
    const old = this.batchSources.get(key);
    if (old !== undefined && old !== g.batchSize?.source) this.calibratedBatchSize.remove({ ...labels, source: old });
    if (g.batchSize) {
      this.calibratedBatchSize.set({ ...labels, source: g.batchSize.source }, g.batchSize.value);
      this.batchSources.set(key, g.batchSize.source);
    } else this.batchSources.delete(key);
  }

  /**
   * The run's outlook: each training fold's predicted finish and, while it waits, its
   * estimated start (Unix seconds). Folds without a prediction any more lose their series.
   */
  setOutlook(
    namespace: string,
    run: string,
    finishes: ReadonlyMap<string, string>,
    estimatedStart: string | undefined,
  ): void {
    const key = `${namespace}/${run}`;
    const before = this.predictedFolds.get(key) ?? new Set<string>();
    for (const fold of before) if (!finishes.has(fold)) this.foldPredictedFinish.remove({ namespace, run, fold });
    for (const [fold, at] of finishes) this.foldPredictedFinish.set({ namespace, run, fold }, Date.parse(at) / 1000);
    this.predictedFolds.set(key, new Set(finishes.keys()));
    if (estimatedStart === undefined) this.runEstimatedStart.remove({ namespace, run });
    else this.runEstimatedStart.set({ namespace, run }, Date.parse(estimatedStart) / 1000);
  }

  /** A deleted run leaves no series behind. */
  forgetRun(namespace: string, run: string): void {
    const labels = { namespace, run };
    this.setOutlook(namespace, run, new Map(), undefined);
    this.predictedFolds.delete(`${namespace}/${run}`);
    this.gpusInUse.remove(labels);
    this.gpuSecondsUsed.remove(labels);
    this.gpuSecondsSaved.remove(labels);
    const source = this.batchSources.get(`${namespace}/${run}`);
    if (source !== undefined) this.calibratedBatchSize.remove({ ...labels, source });
    this.batchSources.delete(`${namespace}/${run}`);
  }
}
