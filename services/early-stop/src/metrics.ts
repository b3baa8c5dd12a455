import { METRICS, type MetricSpec } from "@nnunet-operator/api";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

// The controller's Prometheus metrics, registered exactly as the catalogue in
// @nnunet-operator/api names them (the dashboard and the alert rules read the same names).
// Hot-path figures are not pushed into prom-client per message (its label hashing would
// cost a fifth of the ingest budget): per-fold gauges are read from the controller's fold
// state when Prometheus scrapes, and message outcomes are counted in a plain map that the
// counter reads at scrape time. Only the leader holds folds, so only it exports fold series,
// and a fold forgotten (run deleted, term ended) drops out of the next scrape.

type FoldLabel = "namespace" | "run" | "fold";

/** One fold as the per-fold gauges show it. */
export interface FoldSample {
  readonly namespace: string;
  readonly run: string;
  readonly fold: string;
  readonly epoch: number;
  readonly maxEpochs: number;
  readonly ema: number | undefined;
  /** When the fold's last epoch was received (ms since the epoch). */
  readonly lastEpochAtMs: number;
}

function labelsOf(spec: MetricSpec): string[] {
  return [...spec.labels];
}

export class EarlyStopMetrics {
  readonly decisions: Counter<"policy" | "reason">;
  readonly decisionLatency: Histogram<string>;
  readonly epochsSaved: Counter<string>;
  readonly streamReady: Gauge<string>;
  readonly streamRecreated: Counter<"missing">;
  readonly runPurges: Counter<"trigger" | "result">;
  private readonly messageCounts = new Map<string, { result: string; reason: string; count: number }>();
  private folds: () => Iterable<FoldSample> = () => [];

  constructor(registry: Registry) {
    const registers = [registry];
    const counts = this.messageCounts;
    new Counter<"result" | "reason">({
      name: METRICS.messages.name,
      help: METRICS.messages.help,
      labelNames: labelsOf(METRICS.messages) as Array<"result" | "reason">,
      registers,
      collect() {
        this.reset();
        for (const c of counts.values()) this.inc({ result: c.result, reason: c.reason }, c.count);
      },
    });
    this.decisions = new Counter({
      name: METRICS.decisions.name,
      help: METRICS.decisions.help,
      labelNames: labelsOf(METRICS.decisions) as Array<"policy" | "reason">,
      registers,
    });
    this.decisionLatency = new Histogram({
      name: METRICS.decisionLatency.name,
      help: METRICS.decisionLatency.help,
      labelNames: labelsOf(METRICS.decisionLatency),
      buckets: [...(METRICS.decisionLatency.buckets ?? [])],
      registers,
    });
    this.epochsSaved = new Counter({
      name: METRICS.epochsSaved.name,
      help: METRICS.epochsSaved.help,
      labelNames: labelsOf(METRICS.epochsSaved),
      registers,
    });
    this.streamReady = new Gauge({
      name: METRICS.streamReady.name,
      help: METRICS.streamReady.help,
      labelNames: labelsOf(METRICS.streamReady),
      registers,
    });
    this.streamRecreated = new Counter({
      name: METRICS.streamRecreated.name,
      help: METRICS.streamRecreated.help,
      labelNames: labelsOf(METRICS.streamRecreated) as Array<"missing">,
      registers,
    });
    this.runPurges = new Counter({
      name: METRICS.runPurges.name,
      help: METRICS.runPurges.help,
      labelNames: labelsOf(METRICS.runPurges) as Array<"trigger" | "result">,
      registers,
    });
    const foldGauge = (spec: MetricSpec, value: (f: FoldSample) => number | undefined) => {
      const folds = () => this.folds();
      new Gauge<FoldLabel>({
        name: spec.name,
        help: spec.help,
        labelNames: labelsOf(spec) as FoldLabel[],
        registers,
        collect() {
          this.reset();
          for (const f of folds()) {
            const v = value(f);
            if (v !== undefined) this.set({ namespace: f.namespace, run: f.run, fold: f.fold }, v);
          }
        },
      });
    };
    foldGauge(METRICS.foldEpoch, (f) => f.epoch);
    foldGauge(METRICS.foldMaxEpochs, (f) => f.maxEpochs);
    foldGauge(METRICS.foldEma, (f) => f.ema);
    foldGauge(METRICS.foldLastEpochTime, (f) => f.lastEpochAtMs / 1000);
  }

  /** Counts one epoch message: accepted (reason "") or rejected with its reason. */
  countMessage(result: "accepted" | "rejected", reason = ""): void {
    const key = `${result}/${reason}`;
    const entry = this.messageCounts.get(key);
    if (entry !== undefined) entry.count += 1;
    else this.messageCounts.set(key, { result, reason, count: 1 });
  }

  /** Where the per-fold gauges read their folds from (the controller's current term). */
  setFoldSource(folds: () => Iterable<FoldSample>): void {
    this.folds = folds;
  }
}

export function createEarlyStopMetrics(registry: Registry): EarlyStopMetrics {
  return new EarlyStopMetrics(registry);
}
