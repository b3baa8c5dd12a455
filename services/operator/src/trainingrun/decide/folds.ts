import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPod } from "kubernetes-models/v1/Pod";
import {
  type FoldStatus,
  isJobComplete,
  isJobFailed,
  jobAttempt as attemptOf,
  readStopDecision,
  type StopDecision,
  type TrainingRun,
} from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";
import { NNUNET_CONTAINER } from "../manifests/common.js";
import type { CalibrationDecision } from "./calibration.js";
import { classifyFailure, type Failure } from "./failures.js";
import { ANNOTATION_BATCH_SIZE, intAnnotation, isPodActive, newestPod, TRAINED_PHASES } from "./objects.js";
import { type FoldProgress, recentEpochSecondsOf } from "./progress.js";
import { decideStall, type HeartbeatSeen } from "./stall.js";
import { decideStart } from "./start-timeouts.js";
import { decideValidation } from "./validation.js";
import { predictFoldFinish } from "./finish.js";
import { computeFoldAudit, isAudit } from "./audit.js";

// One fold's training lifecycle, decided from its Job and pods. Attempts follow the
// scheme documented at buildTrainingJob: one pod per Job, a new Job per attempt, the next
// attempt written to status before the old Job is deleted. The fold's previous status is
// read back only for that history (attempt, batch size, GPU-seconds of deleted attempts,
// results of children that are gone); everything else comes from the world. A stall of the
// running attempt (decide/stall.ts: past its deadline, confirmed by the reporter's heartbeat)
// is a retryable failure like a lost node; a stop decision wins over it.

export interface FoldInput {
  readonly run: TrainingRun;
  readonly config: OperatorConfig;
  readonly fold: string;
  readonly job: IJob | undefined;
  readonly pods: readonly IPod[];
  readonly validateJob: IJob | undefined;
  readonly validatePods: readonly IPod[];
  readonly previous: FoldStatus | undefined;
  readonly calibration: Pick<CalibrationDecision, "ready" | "batchSize" | "ladder" | "schedule">;
  readonly admitted: { readonly train: boolean; readonly validate: boolean };
  readonly progress: FoldProgress | undefined;
  /** What tells a hung trainer from a lost stream (decide/stall.ts). */
  readonly liveness: { readonly heartbeat: HeartbeatSeen | undefined; readonly feedSince: string | undefined };
  readonly now: Date;
}

export type FoldAction =
  | { type: "CreateTrainingJob"; fold: string; attempt: number; batchSize: number | undefined; trainer: string }
  | { type: "DeleteTrainingJob"; fold: string; name: string; reason: string }
  | { type: "DeleteValidationJob"; fold: string; name: string; reason: string }
  | {
      type: "CreateValidationJob";
      fold: string;
      checkpoint: "best" | "final";
      batchSize: number | undefined;
      trainer: string;
    };

export interface FoldDecision {
  readonly status: FoldStatus;
  readonly actions: readonly FoldAction[];
  /** Work that needs a GPU admission has not granted yet. */
  readonly wants?: "train" | "validate";
  readonly requeueAfterSeconds?: number;
}

type Partial_ = Omit<FoldStatus, "fold" | "attempt"> & { attempt?: number };

/** The Job's stop decision; a malformed one is no decision, only a note (packages/api fold-job.ts). */
export function parseStopDecision(job: IJob): { decision?: StopDecision; error?: string } {
  const read = readStopDecision(job);
  return read.state === "valid" ? { decision: read.value } : read.state === "malformed" ? { error: read.error } : {};
}

export function restartBackoffSeconds(config: OperatorConfig, attempt: number): number {
  return Math.min(config.restartBackoff.initialSeconds * 2 ** attempt, config.restartBackoff.maxSeconds);
}

export function decideFold(input: FoldInput): FoldDecision {
  const training = decideTraining(input);
  const phase = training.status.phase;
  if (!TRAINED_PHASES.has(phase)) return training;
  return decideValidation(input, training.status);
}

function finish(input: FoldInput, s: Partial_, extra: Omit<FoldDecision, "status"> = { actions: [] }): FoldDecision {
  const p = input.progress;
  const prev = input.previous;
  const status: FoldStatus = {
    fold: input.fold,
    attempt: s.attempt ?? prev?.attempt ?? 0,
    maxEpochs: input.calibration.schedule.effectiveMaxEpochs,
    ...pick(prev, [
      "epoch",
      "latestEma",
      "bestEma",
      "bestEpoch",
      "node",
      "pod",
      "startedAt",
      "finishedAt",
      "gpuSecondsUsed",
      "gpuSecondsPlanned",
      "epochSeconds",
      "batchSize",
      "stopDecision",
      "audit",
      "validation",
    ]),
    ...(p ? { epoch: p.epoch } : {}),
    ...(p?.latestEma !== undefined ? { latestEma: p.latestEma } : {}),
    ...(p?.bestEma !== undefined ? { bestEma: p.bestEma } : {}),
    ...(p?.bestEpoch !== undefined ? { bestEpoch: p.bestEpoch } : {}),
    ...s,
  } as FoldStatus;
  if (s.reason === undefined) delete status.reason;
  if (s.message === undefined) delete status.message;
  const epochSeconds = recentEpochSecondsOf(p);
  if (epochSeconds !== undefined) status.epochSeconds = Math.round(epochSeconds * 100) / 100;
  // Only a fold that is training has an end ahead of it; a stopping one ends now.
  const predicted =
    p && status.phase === "Training" && s.reason !== "Stopping" && status.maxEpochs !== undefined
      ? predictFoldFinish({
          epoch: p.epoch,
          maxEpochs: status.maxEpochs,
          epochSeconds,
          lastEpochAt: new Date(p.observedAt),
        })
      : undefined;
  if (predicted) status.predictedFinishAt = predicted.toISOString();
  return { status, ...extra };
}

function pick<T extends object, K extends keyof T>(o: T | undefined, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o?.[k] !== undefined) out[k] = o[k];
  return out;
}

function decideTraining(input: FoldInput): FoldDecision {
  const { job, previous } = input;
  if (!job) return noJob(input);

  const jobAttempt = attemptOf(job);
  if (previous && previous.attempt > jobAttempt) {
    // The replacement of this Job is already decided (status says so): finish deleting it.
    const deleting = job.metadata?.deletionTimestamp !== undefined;
    return finish(
      input,
      {
        phase: "Restarting",
        reason: previous.reason ?? "Restarting",
        message: deleting
          ? `waiting for Job ${job.metadata?.name} of attempt ${jobAttempt} to be deleted`
          : (previous.message ?? ""),
      },
      {
        actions: deleting
          ? []
          : [
              {
                type: "DeleteTrainingJob",
                fold: input.fold,
                name: job.metadata?.name ?? "",
                reason: "replaced by the next attempt",
              },
            ],
      },
    );
  }

  if (
    previous?.phase === "Failed" &&
    previous.attempt === jobAttempt &&
    job.metadata?.deletionTimestamp !== undefined
  ) {
    // A failed attempt's Job on its way out (a stalled pod with no restart left): what it told us stands.
    return finish(input, { phase: "Failed", reason: previous.reason, message: previous.message });
  }

  const batchSize = intAnnotation(job, ANNOTATION_BATCH_SIZE) ?? input.calibration.batchSize;
  const pod = newestPod(input.pods);
  const active = input.pods.filter(isPodActive);
  const startedAt =
    previous?.startedAt ??
    input.pods
      .map((p) => p.status?.startTime)
      .filter((t): t is string => !!t)
      .sort()[0];
  const base: Partial_ = {
    phase: "Training",
    attempt: jobAttempt,
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...(pod?.metadata?.name ? { pod: pod.metadata.name } : {}),
    ...(pod?.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    ...(startedAt ? { startedAt } : {}),
  };

  const stop = parseStopDecision(job);
  // An audit's would-be decision stops nothing: the fold trains on, its status keeps the
  // decision and, once training has ended, what the stop would have cost and saved.
  const audited = isAudit(stop.decision) ? stop.decision : undefined;
  if (audited) {
    base.stopDecision = audited;
    base.audit = computeFoldAudit(audited, input.progress, input.run.spec.gpu.perFold, isJobComplete(job));
  }
  if (stop.decision && !audited) {
    const d = stop.decision;
    if (active.length > 0)
      return finish(input, {
        ...base,
        phase: "Training",
        reason: "Stopping",
        message: `stop decided at epoch ${d.epoch} by ${d.policy}; waiting for the pod to terminate`,
      });
    const finishedAt = d.decidedAt;
    if (d.policy === "Divergence")
      return finish(input, {
        ...base,
        phase: "Failed",
        reason: "Diverged",
        message: `training diverged at epoch ${d.epoch}: ${d.reason}`,
        stopDecision: d,
        finishedAt,
      });
    return finish(input, {
      ...base,
      phase: "Converged",
      reason: "EarlyStopped",
      message: `stopped at epoch ${d.epoch} by ${d.policy}: ${d.reason}`,
      stopDecision: d,
      finishedAt,
    });
  }

  if (isJobComplete(job)) {
    const finishedAt =
      job.status?.conditions?.find((c) => c.type === "Complete")?.lastTransitionTime ??
      previous?.finishedAt ??
      input.now.toISOString();
    return finish(input, {
      ...base,
      phase: "Completed",
      reason: "Completed",
      message: `trained the full schedule of ${input.calibration.schedule.effectiveMaxEpochs} epochs`,
      finishedAt: String(finishedAt),
    });
  }

  if (active.length === 0 && (isJobFailed(job) || pod?.status?.phase === "Failed")) {
    return afterFailure(input, base, classifyFailure(job, pod, input.now), jobAttempt, batchSize);
  }

  // A pod that cannot start (no node fits: admission counted the GPUs, so the world changed
  // under us; an image that cannot be pulled; a container that cannot be created) holds its
  // GPUs: past its limit the attempt fails and its Job is deleted (start-timeouts.ts).
  const start =
    pod && isPodActive(pod)
      ? decideStart({
          pod,
          role: "training",
          main: NNUNET_CONTAINER,
          timeouts: input.config.startTimeouts,
          now: input.now,
          hasEpoch: input.progress?.attempt === jobAttempt,
          attempt: jobAttempt,
        })
      : undefined;
  if (start?.kind === "timedOut") return afterFailure(input, base, start.failure, jobAttempt, batchSize);
  if (start?.kind === "waiting")
    return finish(
      input,
      { ...base, reason: start.reason, message: start.message },
      { actions: [], ...requeue(start.requeueAfterSeconds) },
    );
  if (!pod?.spec?.nodeName)
    return finish(input, { ...base, reason: "Starting", message: "waiting for the training pod to be scheduled" });
  const stall = decideStall({
    attempt: jobAttempt,
    startedAt: pod.status?.startTime === undefined ? undefined : String(pod.status.startTime),
    progress: input.progress,
    heartbeat: input.liveness.heartbeat,
    feedSince: input.liveness.feedSince,
    stallAfterEpochTimes: input.run.spec.schedule.earlyStop.stallAfterEpochTimes,
    firstEpochSeconds: input.config.startTimeouts.firstEpochSeconds,
    maxEpochs: input.calibration.schedule.effectiveMaxEpochs,
    now: input.now,
  });
  if (stall.kind === "stalled" && active.length > 0)
    return afterFailure(input, base, stall.failure, jobAttempt, batchSize);
  const note = stop.error !== undefined ? `; ignoring the Job's ${stop.error}` : "";
  const running = `attempt ${jobAttempt} running on ${pod.spec.nodeName}`;
  if (stall.kind === "unconfirmed") {
    return finish(
      input,
      { ...base, reason: "StreamLost", message: `${running}; ${stall.message}${note}` },
      { actions: [], ...requeue(stall.requeueAfterSeconds, start?.requeueAfterSeconds) },
    );
  }
  // The trainer's own start (start-timeouts.ts) and the stall deadline both want a look back.
  const wait = requeue(stall.kind === "watching" ? stall.requeueAfterSeconds : undefined, start?.requeueAfterSeconds);
  return finish(input, { ...base, reason: "Running", message: `${running}${note}` }, { actions: [], ...wait });
}

/** The earliest of the requeues asked for, as FoldDecision's field. */
function requeue(...seconds: (number | undefined)[]): { requeueAfterSeconds?: number } {
  const s = seconds.filter((x): x is number => x !== undefined);
  return s.length > 0 ? { requeueAfterSeconds: Math.min(...s) } : {};
}

/** Resume after a retryable failure, step the batch down after CUDA OOM, or fail for good. */
function afterFailure(
  input: FoldInput,
  base: Partial_,
  failure: Failure,
  jobAttempt: number,
  batchSize: number | undefined,
): FoldDecision {
  const { run, config, now } = input;
  const finishedAt = failure.at.toISOString();
  // A stalled pod, or one that never started, still holds its GPUs: a fold that fails for
  // good deletes its Job so that they are freed.
  const running = input.pods.some(isPodActive) && input.job?.metadata?.deletionTimestamp === undefined;
  const giveBack = (why: string): FoldAction[] =>
    running
      ? [{ type: "DeleteTrainingJob", fold: input.fold, name: input.job?.metadata?.name ?? "", reason: why }]
      : [];
  if (failure.kind === "Terminal")
    return finish(
      input,
      { ...base, phase: "Failed", reason: failure.reason, message: failure.message, finishedAt },
      { actions: giveBack(`${failure.reason}, failed for good`) },
    );
  const next = jobAttempt + 1;
  if (jobAttempt >= run.spec.maxRestarts) {
    return finish(
      input,
      {
        ...base,
        phase: "Failed",
        reason: "RestartsExhausted",
        message: `gave up after ${jobAttempt} restart(s) (spec.maxRestarts ${run.spec.maxRestarts}); last failure: ${failure.message}`,
        finishedAt,
      },
      { actions: giveBack(`${failure.reason}, no restart left`) },
    );
  }
  let nextBatch = batchSize;
  if (failure.kind === "CudaOutOfMemory") {
    nextBatch = batchSize === undefined ? undefined : input.calibration.ladder.find((b) => b < batchSize);
    if (nextBatch === undefined) {
      const hint =
        batchSize === undefined
          ? "the plans' batch size does not fit this GPU; use spec.batchSize.mode Auto to calibrate it"
          : `no calibrated batch size below ${batchSize} is left`;
      return finish(input, {
        ...base,
        phase: "Failed",
        reason: "TrainerError",
        message: `${failure.message}; ${hint}`,
        finishedAt,
      });
    }
  }
  const backoff = failure.waitedOut === true ? 0 : restartBackoffSeconds(config, jobAttempt);
  const wait = backoff - (now.getTime() - failure.at.getTime()) / 1000;
  const what =
    failure.kind === "CudaOutOfMemory"
      ? `resuming with batch size ${nextBatch} (from ${batchSize})`
      : "resuming from checkpoint_latest.pth";
  if (wait > 0) {
    return finish(
      input,
      {
        ...base,
        phase: "Restarting",
        reason: failure.reason,
        message: `${failure.message}; ${what} in ${Math.ceil(wait)}s`,
      },
      { actions: [], requeueAfterSeconds: Math.ceil(wait) },
    );
  }
  return finish(
    input,
    {
      ...base,
      phase: "Restarting",
      attempt: next,
      ...(nextBatch !== undefined ? { batchSize: nextBatch } : {}),
      reason: failure.reason,
      message: `${failure.message}; ${what} as attempt ${next}`,
    },
    {
      actions: [
        { type: "DeleteTrainingJob", fold: input.fold, name: input.job?.metadata?.name ?? "", reason: failure.reason },
      ],
    },
  );
}

function noJob(input: FoldInput): FoldDecision {
  const { previous, run } = input;
  if (previous && (TRAINED_PHASES.has(previous.phase) || previous.phase === "Failed")) {
    // The Job is gone after the fold finished (deleted by hand): what it told us stands.
    const phase =
      previous.phase === "Failed"
        ? "Failed"
        : previous.stopDecision && !isAudit(previous.stopDecision)
          ? "Converged"
          : "Completed";
    return finish(input, { phase, reason: previous.reason, message: previous.message });
  }
  let attempt = previous?.attempt ?? 0;
  let restarting = previous?.phase === "Restarting";
  let message: string | undefined;
  if (previous?.phase === "Training") {
    // We saw this attempt's Job and nobody decided to replace it: it vanished. Count it as
    // a lost attempt, so the resumed pod gets fresh message ids.
    if (attempt >= run.spec.maxRestarts) {
      return finish(input, {
        phase: "Failed",
        reason: "RestartsExhausted",
        message: `the training Job of attempt ${attempt} disappeared and spec.maxRestarts ${run.spec.maxRestarts} is used up`,
      });
    }
    attempt += 1;
    restarting = true;
    message = `the training Job of attempt ${attempt - 1} disappeared; resuming as attempt ${attempt}`;
  }
  if (!input.calibration.ready)
    return finish(input, {
      phase: "Pending",
      attempt,
      reason: "WaitingForCalibration",
      message: "waiting for the batch size",
    });
  const batchSize = previous?.batchSize ?? input.calibration.batchSize;
  const phase = restarting ? "Restarting" : "Queued";
  const common: Partial_ = { phase, attempt, ...(batchSize !== undefined ? { batchSize } : {}) };
  if (!input.admitted.train) {
    return {
      ...finish(input, {
        ...common,
        reason: restarting ? (previous?.reason ?? "Restarting") : "WaitingForGpu",
        message: message ?? "waiting for a GPU",
      }),
      wants: "train",
    };
  }
  return finish(
    input,
    { ...common, reason: "Admitted", message: message ?? `creating the training Job for attempt ${attempt}` },
    {
      actions: [
        {
          type: "CreateTrainingJob",
          fold: input.fold,
          attempt,
          batchSize,
          trainer: input.calibration.schedule.trainer,
        },
      ],
    },
  );
}
