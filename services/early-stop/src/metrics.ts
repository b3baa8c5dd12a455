import { METRICS, type MetricSpec } from "@nnunet-operator/api";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

// The controller's Prometheus metrics, registered exactly as the catalogue in
// @nnunet-operator/api names them (the dashboard and the alert rules read the same names).

type FoldLabel = "namespace" | "run" | "fold";

function counter<L extends string>(spec: MetricSpec, registry: Registry): Counter<L> {
  return new Counter<L>({ name: spec.name, help: spec.help, labelNames: spec.labels as L[], registers: [registry] });
}

function gauge<L extends string>(spec: MetricSpec, registry: Registry): Gauge<L> {
  return new Gauge<L>({ name: spec.name, help: spec.help, labelNames: spec.labels as L[], registers: [registry] });
}

function histogram<L extends string>(spec: MetricSpec, registry: Registry): Histogram<L> {
  return new Histogram<L>({ name: spec.name, help: spec.help, labelNames: spec.labels as L[], buckets: [...(spec.buckets ?? [])], registers: [registry] });
}

export interface EarlyStopMetrics {
  readonly messages: Counter<"result" | "reason">;
  readonly decisions: Counter<"policy" | "reason">;
  readonly decisionLatency: Histogram<string>;
  readonly epochsSaved: Counter<string>;
  readonly foldEpoch: Gauge<FoldLabel>;
  readonly foldMaxEpochs: Gauge<FoldLabel>;
  readonly foldEma: Gauge<FoldLabel>;
  readonly foldLastEpochTime: Gauge<FoldLabel>;
  readonly foldStalled: Gauge<FoldLabel>;
}

export function createEarlyStopMetrics(registry: Registry): EarlyStopMetrics {
  return {
    messages: counter(METRICS.messages, registry),
    decisions: counter(METRICS.decisions, registry),
    decisionLatency: histogram(METRICS.decisionLatency, registry),
    epochsSaved: counter(METRICS.epochsSaved, registry),
    foldEpoch: gauge(METRICS.foldEpoch, registry),
    foldMaxEpochs: gauge(METRICS.foldMaxEpochs, registry),
    foldEma: gauge(METRICS.foldEma, registry),
    foldLastEpochTime: gauge(METRICS.foldLastEpochTime, registry),
    foldStalled: gauge(METRICS.foldStalled, registry),
  };
}

export interface FoldLabels {
  namespace: string;
  run: string;
  fold: string;
}

/** Drops every per-fold series of a fold (its run is gone). */
export function forgetFold(metrics: EarlyStopMetrics, labels: FoldLabels): void {
  for (const g of [metrics.foldEpoch, metrics.foldMaxEpochs, metrics.foldEma, metrics.foldLastEpochTime, metrics.foldStalled]) g.remove(labels);
}
