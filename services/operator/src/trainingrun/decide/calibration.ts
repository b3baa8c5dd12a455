import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import {
  CalibrationResult,
  ConditionReason,
  isJobComplete,
  isJobFailed,
  isJobFinished,
  type TrainingRun,
  type TrainingRunStatus,
} from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";
import { CALIBRATE_CONTAINER, runName, runNamespace, trainingImage } from "../manifests/common.js";
import { cacheKeyForRun, type CalibrationCacheEntry, lookupCache, readCacheEntry } from "./calibration-cache.js";
import { containerTerminated, containerWaitingReason, isPodActive, lastLines, newestPod } from "./objects.js";
import { decideStart } from "./start-timeouts.js";
import { decideSchedule, type Schedule } from "./schedule.js";

// Where the batch size comes from. Calibration never fails a run: every road ends in a
// batch size to train with, at worst the plans' own.

export type CalibrationStatus = NonNullable<TrainingRunStatus["calibration"]>;
type CalibrationResultT = CalibrationResult;

export interface CalibrationInput {
  readonly run: TrainingRun;
  readonly config: OperatorConfig;
  /** `<run>-calibrate`, when it exists. */
  readonly job: IJob | undefined;
  readonly pods: readonly IPod[];
  readonly nodes: readonly INode[];
  /** data of the calibration cache ConfigMap. */
  readonly cache: Readonly<Record<string, string>> | undefined;
  /** The calibration recorded in status: once decided it is kept, since folds train with it. */
  readonly previous: CalibrationStatus | undefined;
  /** Whether admission granted the calibration Job its GPU in this pass. */
  readonly admitted: boolean;
  readonly now: Date;
}

export type CalibrationAction =
  | { type: "CreateCalibrationJob" }
  /** A calibration Job whose pod cannot start, or that is no longer needed, holds a GPU: delete it. */
  | { type: "DeleteCalibrationJob"; name: string; reason: string }
  | { type: "WriteCalibrationCache"; key: string; entry: CalibrationCacheEntry };

export interface CalibrationDecision {
  /** Folds may start: the batch size is known. */
  readonly ready: boolean;
  /** Batch size to train with; undefined means the plans file unchanged. */
  readonly batchSize: number | undefined;
  /** Smaller sizes that fitted, largest first: the steps an out-of-memory retry walks down. */
  readonly ladder: readonly number[];
  readonly schedule: Schedule;
  readonly status: CalibrationStatus;
  readonly condition: { status: "True" | "False" | "Unknown"; reason: string; message: string };
  readonly actions: readonly CalibrationAction[];
  /** The run needs a GPU for its calibration Job and admission has not granted it. */
  readonly wantsGpu: boolean;
  /** Look again then: the calibration pod's start limit (start-timeouts.ts). */
  readonly requeueAfterSeconds?: number;
}

const KEPT_SOURCES = new Set(["Calibrated", "Cached", "Fallback"]);

export function parseCalibrationMessage(
  text: string | undefined,
): { ok: true; result: CalibrationResultT } | { ok: false; error: string } {
  if (!text || text.trim() === "") return { ok: false, error: "the calibrator left no termination message" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: `the termination message is not JSON: "${quote(text)}"` };
  }
  const parsed = CalibrationResult.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      error: `the termination message is not a CalibrationResult (${issue?.path.join(".") || "(root)"}: ${issue?.message}): "${quote(text)}"`,
    };
  }
  return { ok: true, result: parsed.data };
}

function quote(text: string): string {
  const t = text.trim();
  return t.length > 600 ? `${t.slice(0, 600)}...` : t;
}

/** Sizes below the chosen one that fitted within the headroom, largest first. */
export function batchLadder(probes: CalibrationStatus["probes"], chosen: number | undefined): number[] {
  if (chosen === undefined) return [];
  const sizes = (probes ?? [])
    .filter((p) => p.fits && p.withinHeadroom !== false && p.batchSize < chosen)
    .map((p) => p.batchSize);
  const fromProbes = [...new Set(sizes)].sort((a, b) => b - a);
  return fromProbes.length > 0 ? fromProbes : halvings(chosen);
}

function halvings(size: number): number[] {
  const out: number[] = [];
  for (let b = Math.floor(size / 2); b >= 1; b = Math.floor(b / 2)) out.push(b);
  return out;
}

/** The plans' batch size as any earlier calibration of the same plans recorded it. */
export function plansBatchSizeFromCache(
  run: TrainingRun,
  cache: Readonly<Record<string, string>> | undefined,
): number | undefined {
  for (const key of Object.keys(cache ?? {})) {
    const entry = readCacheEntry(cache, key);
    if (
      entry &&
      entry.result.plans === run.spec.plans &&
      entry.result.configuration === run.spec.configuration &&
      key.startsWith(`${run.spec.dataset}.`)
    ) {
      return entry.result.plansBatchSize;
    }
  }
  return undefined;
}

function fromResult(
  run: TrainingRun,
  result: CalibrationResultT,
  source: "Calibrated" | "Cached",
  gpuProduct: string,
  attempts: number | undefined,
): CalibrationStatus {
  const chosen = result.probes.find((p) => p.batchSize === result.chosenBatchSize);
  const schedule = decideSchedule(run, result.chosenBatchSize, result.plansBatchSize);
  return {
    batchSize: result.chosenBatchSize,
    plansBatchSize: result.plansBatchSize,
    plans: result.derivedPlans,
    source,
    gpuProduct,
    ...(attempts !== undefined ? { attempts } : {}),
    ...(chosen?.samplesPerSecond !== undefined ? { samplesPerSecond: chosen.samplesPerSecond } : {}),
    ...(result.inputBound !== undefined ? { inputBound: result.inputBound } : {}),
    probes: result.probes,
    ...scheduleStatus(schedule),
  };
}

function scheduleStatus(
  s: Schedule,
): Pick<CalibrationStatus, "epochScale" | "effectiveMaxEpochs" | "trainer" | "message"> {
  return {
    epochScale: s.epochScale,
    effectiveMaxEpochs: s.effectiveMaxEpochs,
    trainer: s.trainer,
    ...(s.note ? { message: s.note } : {}),
  };
}

function decided(
  status: CalibrationStatus,
  run: TrainingRun,
  condition: CalibrationDecision["condition"],
  actions: CalibrationAction[] = [],
): CalibrationDecision {
  const schedule = decideSchedule(run, status.batchSize, status.plansBatchSize);
  return {
    ready: true,
    batchSize: status.batchSize,
    ladder: batchLadder(status.probes, status.batchSize),
    schedule,
    status,
    condition,
    actions,
    wantsGpu: false,
  };
}

function fallback(
  run: TrainingRun,
  error: string,
  attempts: number,
  actions: CalibrationAction[] = [],
): CalibrationDecision {
  const schedule = decideSchedule(run, undefined, undefined);
  const message = `calibration failed after ${attempts} attempt(s), training with the batch size of plans ${run.spec.plans}: ${error}`;
  return decided(
    { plans: run.spec.plans, source: "Fallback", attempts, ...scheduleStatus(schedule), message },
    run,
    { status: "False", reason: ConditionReason.CalibrationFailed, message },
    actions,
  );
}

/** The calibration Job, while it still runs, as a delete: it holds a GPU for a batch size already decided. */
function deleteUnfinished(job: IJob | undefined, reason: string): CalibrationAction[] {
  if (!job || isJobFinished(job) || job.metadata?.deletionTimestamp !== undefined) return [];
  return [{ type: "DeleteCalibrationJob", name: job.metadata?.name ?? "", reason }];
}

function productOf(input: CalibrationInput, pod: IPod | undefined, result: CalibrationResultT): string {
  const node = input.nodes.find((n) => n.metadata?.name === pod?.spec?.nodeName);
  const label = node?.metadata?.labels?.[input.run.spec.gpu.productLabel];
  if (label) return label;
  return input.run.spec.gpu.products.length === 1
    ? input.run.spec.gpu.products[0]!
    : result.gpu.name.replace(/\s+/g, "-");
}

export function decideCalibration(input: CalibrationInput): CalibrationDecision {
  const { run, previous } = input;
  const mode = run.spec.batchSize.mode;

  if (mode === "Plans") {
    const schedule = decideSchedule(run, undefined, undefined);
    return decided({ plans: run.spec.plans, source: "Plans", ...scheduleStatus(schedule) }, run, {
      status: "True",
      reason: ConditionReason.PlansBatchSize,
      message: `training with the batch size of plans ${run.spec.plans}`,
    });
  }
  if (mode === "Fixed") {
    const value = run.spec.batchSize.value!;
    const plansBatchSize = previous?.plansBatchSize ?? plansBatchSizeFromCache(run, input.cache);
    const schedule = decideSchedule(run, value, plansBatchSize);
    const status: CalibrationStatus = {
      batchSize: value,
      plans: `${run.spec.plans}_bs${value}`,
      source: "Fixed",
      ...(plansBatchSize ? { plansBatchSize } : {}),
      ...scheduleStatus(schedule),
    };
    return decided(status, run, {
      status: "True",
      reason: ConditionReason.FixedBatchSize,
      message: `training with spec.batchSize.value ${value}`,
    });
  }

  const image = trainingImage(run, input.config);
  const pod = newestPod(input.pods.filter((p) => p.status?.phase === "Succeeded")) ?? newestPod(input.pods);
  const message = pod ? containerTerminated(pod, CALIBRATE_CONTAINER)?.message : undefined;
  const attempts = input.job
    ? (input.job.status?.failed ?? 0) + (input.job.status?.succeeded ?? 0)
    : (previous?.attempts ?? 0);

  // A fresh result in a finished Job is written to the cache, also when status already
  // has it: the cache write may have failed in the pass that read it.
  const actions: CalibrationAction[] = [];
  const fresh = input.job && isJobComplete(input.job) ? parseCalibrationMessage(message) : undefined;
  if (fresh?.ok) {
    const product = productOf(input, pod, fresh.result);
    const key = cacheKeyForRun(run, image, product);
    const have = readCacheEntry(input.cache, key);
    if (!have || JSON.stringify(have.result) !== JSON.stringify(fresh.result)) {
      actions.push({
        type: "WriteCalibrationCache",
        key,
        entry: {
          result: fresh.result,
          gpuProduct: product,
          image,
          source: `${runNamespace(run)}/${runName(run)}`,
          cachedAt: input.now.toISOString(),
        },
      });
    }
  }

  if (
    previous?.source &&
    KEPT_SOURCES.has(previous.source) &&
    (previous.batchSize !== undefined || previous.source === "Fallback")
  ) {
    const reason =
      previous.source === "Fallback"
        ? ConditionReason.CalibrationFailed
        : previous.source === "Cached"
          ? ConditionReason.CalibrationCached
          : ConditionReason.Calibrated;
    actions.push(...deleteUnfinished(input.job, "the batch size is decided"));
    return decided(
      previous,
      run,
      { status: previous.source === "Fallback" ? "False" : "True", reason, message: calibratedMessage(previous) },
      actions,
    );
  }

  if (fresh?.ok) {
    const status = fromResult(run, fresh.result, "Calibrated", productOf(input, pod, fresh.result), attempts);
    return decided(
      status,
      run,
      { status: "True", reason: ConditionReason.Calibrated, message: calibratedMessage(status) },
      actions,
    );
  }
  if (fresh && !fresh.ok) return fallback(run, fresh.error, attempts);

  const hit = lookupCache(run, image, input.cache);
  if (hit && !input.job) {
    const status = fromResult(run, hit.entry.result, "Cached", hit.entry.gpuProduct, undefined);
    return decided(status, run, {
      status: "True",
      reason: ConditionReason.CalibrationCached,
      message: `${calibratedMessage(status)}, cached from ${hit.entry.source} at ${hit.entry.cachedAt}`,
    });
  }

  if (input.job && isJobFailed(input.job)) {
    const exit = pod ? containerTerminated(pod, CALIBRATE_CONTAINER) : undefined;
    const why = exit
      ? `exit code ${exit.exitCode}${exit.message ? `: ${lastLines(exit.message, 5, 600)}` : ""}`
      : (input.job.status?.conditions?.find((c) => c.type === "Failed")?.message ?? "the Job failed");
    return fallback(run, why, attempts);
  }

  const schedule = decideSchedule(run, undefined, undefined);
  if (input.job) {
    // Calibration never fails a run: a pod that cannot start within its limit ends the
    // calibration like a failed one, with the plans' batch size, and frees its GPU.
    const active = newestPod(input.pods.filter(isPodActive));
    const start = active
      ? decideStart({
          pod: active,
          role: "calibration",
          main: CALIBRATE_CONTAINER,
          timeouts: input.config.startTimeouts,
          now: input.now,
        })
      : undefined;
    if (start?.kind === "timedOut")
      return fallback(run, start.failure.message, attempts + 1, deleteUnfinished(input.job, start.failure.reason));
    const waiting = pod ? containerWaitingReason(pod, CALIBRATE_CONTAINER) : undefined;
    const detail =
      start?.kind === "waiting"
        ? `; ${start.message}`
        : waiting
          ? `; the pod waits: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ""}`
          : "";
    const limit = input.config.calibration.retryLimit + 1;
    const decision = pending(
      run,
      schedule,
      attempts,
      `calibration Job ${input.job.metadata?.name} is running (attempt ${attempts + 1} of at most ${limit})${detail}`,
      [],
    );
    return start?.kind === "waiting" && start.requeueAfterSeconds !== undefined
      ? { ...decision, requeueAfterSeconds: start.requeueAfterSeconds }
      : decision;
  }
  if (input.admitted)
    return pending(run, schedule, attempts, "creating the calibration Job", [{ type: "CreateCalibrationJob" }]);
  return { ...pending(run, schedule, attempts, "the calibration Job waits for a GPU", []), wantsGpu: true };
}

function pending(
  run: TrainingRun,
  schedule: Schedule,
  attempts: number,
  message: string,
  actions: CalibrationAction[],
): CalibrationDecision {
  return {
    ready: false,
    batchSize: undefined,
    ladder: [],
    schedule,
    status: { plans: run.spec.plans, attempts, message },
    condition: { status: "Unknown", reason: ConditionReason.Calibrating, message },
    actions,
    wantsGpu: false,
  };
}

function calibratedMessage(s: CalibrationStatus): string {
  if (s.source === "Fallback") return s.message ?? "calibration failed; training with the plans' batch size";
  const k =
    s.batchSize && s.plansBatchSize
      ? ` (${Math.round((s.batchSize / s.plansBatchSize) * 100) / 100}x the plans' ${s.plansBatchSize})`
      : "";
  const sched = s.trainer ? `; schedule ${s.effectiveMaxEpochs} epochs with ${s.trainer}` : "";
  return `batch size ${s.batchSize}${k} on ${s.gpuProduct ?? "the GPU"}${sched}`;
}
