// The Prometheus metrics our services export: one catalogue, so that the services, the
// Grafana dashboard and the alert rules name the same series. Services register exactly
// these (name, type, help, label names); the chart's tests check that every metric the
// dashboard and rules use is in this catalogue and that a live /metrics serves it.

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** Histogram buckets in seconds (or units of the metric). */
  readonly buckets?: readonly number[];
  readonly service: "operator" | "early-stop" | "reporter";
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const WAIT_BUCKETS = [1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400];
// Best EMA pseudo Dice an audited stop would have given up: around the policies' budgets (0.002).
const LOSS_BUCKETS = [0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05];
// GPU-seconds an audited stop would have saved: an hour to a few GPU-days.
const SAVING_BUCKETS = [0, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400];

const m = <const T extends MetricSpec>(spec: T) => spec;

export const METRICS = {
  // operator
  runs: m({
    service: "operator",
    name: "nnunet_trainingruns",
    type: "gauge",
    help: "TrainingRuns by phase.",
    labels: ["phase"],
  }),
  queueLength: m({
    service: "operator",
    name: "nnunet_queue_length",
    type: "gauge",
    help: "Folds waiting for GPUs, by queue.",
    labels: ["queue"],
  }),
  queueWait: m({
    service: "operator",
    name: "nnunet_queue_wait_seconds",
    type: "histogram",
    help: "Time from a fold's first wait to its admission.",
    labels: ["queue"],
    buckets: WAIT_BUCKETS,
  }),
  admittedFolds: m({
    service: "operator",
    name: "nnunet_admitted_folds_total",
    type: "counter",
    help: "Folds admitted to GPUs.",
    labels: ["queue"],
  }),
  gpusInUse: m({
    service: "operator",
    name: "nnunet_gpus_in_use",
    type: "gauge",
    help: "GPUs requested by a run's running pods.",
    labels: ["namespace", "run"],
  }),
  reconcileDuration: m({
    service: "operator",
    name: "nnunet_reconcile_duration_seconds",
    type: "histogram",
    help: "Duration of one reconcile pass.",
    labels: ["controller", "result"],
    buckets: LATENCY_BUCKETS,
  }),
  reconcileErrors: m({
    service: "operator",
    name: "nnunet_reconcile_errors_total",
    type: "counter",
    help: "Reconcile passes that ended in an error.",
    labels: ["controller", "reason"],
  }),
  calibratedBatchSize: m({
    service: "operator",
    name: "nnunet_calibration_batch_size",
    type: "gauge",
    help: "Batch size a run trains with.",
    labels: ["namespace", "run", "source"],
  }),
  gpuSecondsUsed: m({
    service: "operator",
    name: "nnunet_run_gpu_seconds_used",
    type: "gauge",
    help: "GPU-seconds of a run's training epochs as the trainer logged them (status.totals.gpuSecondsUsed).",
    labels: ["namespace", "run"],
  }),
  gpuSecondsSaved: m({
    service: "operator",
    name: "nnunet_run_gpu_seconds_saved",
    type: "gauge",
    help: "GPU-seconds saved against the full schedule at the plans' batch size by the folds that finished training (status.totals.gpuSecondsSaved).",
    labels: ["namespace", "run"],
  }),
  foldsByPhase: m({
    service: "operator",
    name: "nnunet_folds",
    type: "gauge",
    help: "Folds by phase.",
    labels: ["phase"],
  }),
  foldPredictedFinish: m({
    service: "operator",
    name: "nnunet_fold_predicted_finish_timestamp_seconds",
    type: "gauge",
    help: "Unix time a training fold is predicted to finish (status.folds[].predictedFinishAt).",
    labels: ["namespace", "run", "fold"],
  }),
  runEstimatedStart: m({
    service: "operator",
    name: "nnunet_run_estimated_start_timestamp_seconds",
    type: "gauge",
    help: "Unix time a queued run is estimated to start (status.queue.estimatedStartAt).",
    labels: ["namespace", "run"],
  }),
  auditBestEmaLost: m({
    service: "operator",
    name: "nnunet_audit_best_ema_lost",
    type: "histogram",
    help: "Best EMA pseudo Dice an audited fold's would-be stop would have given up, observed once per audited fold when it has trained its schedule.",
    labels: ["policy"],
    buckets: LOSS_BUCKETS,
  }),
  auditGpuSecondsSaved: m({
    service: "operator",
    name: "nnunet_audit_gpu_seconds_saved",
    type: "histogram",
    help: "GPU-seconds an audited fold's would-be stop would have saved, observed once per audited fold when it has trained its schedule.",
    labels: ["policy"],
    buckets: SAVING_BUCKETS,
  }),
  foldStalled: m({
    service: "operator",
    name: "nnunet_fold_stalled",
    type: "gauge",
    help: "1 while a fold has logged no epoch past its stall deadline: hung and being restarted, or its stream lost.",
    labels: ["namespace", "run", "fold"],
  }),
  // early-stop
  foldEpoch: m({
    service: "early-stop",
    name: "nnunet_fold_epoch",
    type: "gauge",
    help: "Last finished epoch of a fold.",
    labels: ["namespace", "run", "fold"],
  }),
  foldMaxEpochs: m({
    service: "early-stop",
    name: "nnunet_fold_max_epochs",
    type: "gauge",
    help: "Planned epochs of a fold.",
    labels: ["namespace", "run", "fold"],
  }),
  foldEma: m({
    service: "early-stop",
    name: "nnunet_fold_ema_pseudo_dice",
    type: "gauge",
    help: "EMA pseudo Dice after a fold's last epoch.",
    labels: ["namespace", "run", "fold"],
  }),
  foldLastEpochTime: m({
    service: "early-stop",
    name: "nnunet_fold_last_epoch_timestamp_seconds",
    type: "gauge",
    help: "Unix time the fold's last epoch was received.",
    labels: ["namespace", "run", "fold"],
  }),
  messages: m({
    service: "early-stop",
    name: "nnunet_earlystop_messages_total",
    type: "counter",
    help: "Epoch messages by outcome (accepted, or the reason they were rejected).",
    labels: ["result", "reason"],
  }),
  decisions: m({
    service: "early-stop",
    name: "nnunet_earlystop_decisions_total",
    type: "counter",
    help: "Stop decisions by policy and reason.",
    labels: ["policy", "reason"],
  }),
  decisionLatency: m({
    service: "early-stop",
    name: "nnunet_earlystop_decision_latency_seconds",
    type: "histogram",
    help: "From receiving the deciding epoch to the stop patch accepted by the API.",
    labels: [],
    buckets: LATENCY_BUCKETS,
  }),
  streamReady: m({
    service: "early-stop",
    name: "nnunet_earlystop_stream_ready",
    type: "gauge",
    help: "1 while the epoch stream and the durable consumer exist, 0 while early-stop recreates them.",
    labels: [],
  }),
  streamRecreated: m({
    service: "early-stop",
    name: "nnunet_earlystop_stream_recreated_total",
    type: "counter",
    help: "Times early-stop found the epoch stream or its consumer missing and recreated it.",
    labels: ["missing"],
  }),
  runPurges: m({
    service: "early-stop",
    name: "nnunet_earlystop_run_purges_total",
    type: "counter",
    help: "Purges of a deleted TrainingRun's epochs from the stream, by trigger (its deletion seen, or the periodic sweep) and result.",
    labels: ["trigger", "result"],
  }),
  epochsSaved: m({
    service: "early-stop",
    name: "nnunet_earlystop_epochs_saved_total",
    type: "counter",
    help: "Planned epochs not run because a fold stopped early.",
    labels: [],
  }),
  // reporter
  reporterPublished: m({
    service: "reporter",
    name: "nnunet_reporter_epochs_published_total",
    type: "counter",
    help: "Epoch messages acknowledged by JetStream.",
    labels: [],
  }),
  reporterDropped: m({
    service: "reporter",
    name: "nnunet_reporter_epochs_dropped_total",
    type: "counter",
    help: "Epoch messages dropped past the buffer bound.",
    labels: [],
  }),
  reporterSkippedLines: m({
    service: "reporter",
    name: "nnunet_reporter_lines_skipped_total",
    type: "counter",
    help: "Log lines that did not parse.",
    labels: [],
  }),
} as const;

export type MetricKey = keyof typeof METRICS;
export const METRIC_NAMES: ReadonlySet<string> = new Set(Object.values(METRICS).map((s) => s.name));
