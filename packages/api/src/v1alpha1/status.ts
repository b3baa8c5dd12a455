import { z } from "zod";
import { StopDecision } from "../messages.js";
import { CalibrationProbe } from "../calibration.js";
import { Condition } from "./conditions.js";
import { timestamp } from "./shared.js";

// The TrainingRun status: recomputed by the operator from the world on every pass and
// written only by it, through the status subresource.

export const RUN_PHASES = [
  "Pending",
  "Queued",
  "Calibrating",
  "Training",
  "Validating",
  "Succeeded",
  "Failed",
  "Suspended",
] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

export const FOLD_PHASES = [
  "Pending",
  "Queued",
  "Training",
  "Restarting",
  "Converged",
  "Completed",
  "Validating",
  "Validated",
  "Failed",
] as const;
export type FoldPhase = (typeof FOLD_PHASES)[number];

export const WAIT_REASONS = [
  "NoMatchingNodes",
  "QuotaExceeded",
  "NoGpuCapacity",
  "ClaimNotFound",
  "Suspended",
  "ExceedsLargestNode",
  "ResultsFolderInUse",
] as const;
export type WaitReason = (typeof WAIT_REASONS)[number];

export const CALIBRATION_SOURCES = ["Calibrated", "Cached", "Fixed", "Plans", "Fallback"] as const;

export const QueueStatus = z
  .object({
    position: z.int().min(1).optional().meta({ description: "1-based position among waiting runs, when waiting." }),
    reason: z.enum(WAIT_REASONS).optional().meta({ description: "Why the run waits, when it waits." }),
    message: z.string().max(4096).optional().meta({ description: "Details of the wait and how to resolve it." }),
    queuedAt: timestamp("When the run first waited for GPUs.").optional(),
    admittedAt: timestamp("When the first fold was admitted.").optional(),
    estimatedStartAt: timestamp(
      "While the run waits for GPUs: when it is estimated to start, from the predicted finish of the folds holding the GPUs it waits for and of the work queued ahead of it. Absent when no such fold has a prediction yet.",
    ).optional(),
  })
  .strict()
  .meta({ description: "The run's place in the admission queue." });

export const CalibrationStatus = z
  .object({
    batchSize: z.int().min(1).optional().meta({ description: "Batch size training uses." }),
    plansBatchSize: z.int().min(1).optional().meta({ description: "Batch size of the original plans." }),
    plans: z
      .string()
      .optional()
      .meta({ description: "Plans identifier training uses (derived plans after calibration)." }),
    source: z.enum(CALIBRATION_SOURCES).optional().meta({
      description:
        "Calibrated: measured by this run's pre-job. Cached: reused from an earlier identical calibration. Fixed: spec.batchSize.value. Plans: the plans' batch size. Fallback: calibration failed, plans' batch size used.",
    }),
    gpuProduct: z.string().optional().meta({ description: "GPU product calibrated on." }),
    attempts: z.int().min(0).optional().meta({ description: "Calibration pre-jobs run so far." }),
    samplesPerSecond: z
      .number()
      .min(0)
      .optional()
      .meta({ description: "Measured samples per second at the chosen size." }),
    inputBound: z.boolean().optional().meta({ description: "Whether training would wait on the data loader." }),
    probes: z.array(CalibrationProbe).max(64).optional().meta({ description: "Probed batch sizes." }),
    epochScale: z.number().min(0).optional().meta({
      description: "Factor maxEpochs was divided by to keep samples constant (1 when unchanged).",
    }),
    effectiveMaxEpochs: z.int().min(1).optional().meta({ description: "Planned epochs after keepSamplesConstant." }),
    trainer: z.string().optional().meta({
      description: "Trainer class training uses (a stock nnUNetTrainer_<N>epochs variant when the schedule shrank).",
    }),
    message: z
      .string()
      .max(4096)
      .optional()
      .meta({ description: "Details, such as the failure that led to a fallback." }),
  })
  .strict()
  .meta({ description: "The batch size in use and where it came from." });

export const ValidationResult = z
  .object({
    checkpoint: z.enum(["best", "final"]).meta({ description: "Checkpoint validated." }),
    meanDice: z.number().meta({ description: "Mean foreground Dice over the validation cases." }),
    perClassDice: z
      .array(z.number().meta({ description: "Dice of one foreground class." }))
      .max(1024)
      .optional()
      .meta({ description: "Dice per foreground class." }),
    completedAt: timestamp("When validation finished.").optional(),
  })
  .strict()
  .meta({ description: "Result of nnU-Net validation of a fold." });

export const AuditedValidation = z
  .object({
    atDecision: ValidationResult.optional().meta({
      description: "Validation of the copy of checkpoint_best.pth the reporter kept when the would-be decision landed.",
    }),
    atEnd: ValidationResult.optional().meta({
      description:
        "Validation of what the full schedule left, as for any fold that trained its schedule (checkpoint_final.pth); the stop would have been validated from the kept copy.",
    }),
    meanDiceLost: z.number().optional().meta({
      description:
        "atEnd minus atDecision mean Dice: what the stop would have given up (negative: the stop would have been better).",
    }),
    perClassDiceLost: z
      .array(z.number().meta({ description: "Dice given up on one foreground class." }))
      .max(1024)
      .optional()
      .meta({ description: "atEnd minus atDecision Dice, per foreground class." }),
  })
  .strict()
  .meta({ description: "Validation Dice of the two checkpoints of an audited fold." });

export const FoldAudit = z
  .object({
    stopEpoch: z.int().min(0).meta({ description: "Epoch the policy would have stopped the fold at." }),
    policy: z.string().meta({ description: "Policy that would have stopped it." }),
    bestEmaAtStop: z.number().optional().meta({ description: "Best EMA pseudo Dice up to the would-be stop." }),
    bestEmaLost: z.number().min(0).optional().meta({
      description:
        "Best EMA pseudo Dice of the whole schedule minus bestEmaAtStop: what the stop would have given up, once the fold has ended.",
    }),
    epochsSaved: z.int().min(0).optional().meta({ description: "Epochs trained after the would-be stop." }),
    gpuSecondsSaved: z.number().min(0).optional().meta({
      description:
        "GPU-seconds of the epochs trained after the would-be stop (logged epoch times times GPUs per fold).",
    }),
    validation: AuditedValidation.optional(),
  })
  .strict()
  .meta({
    description:
      "An audited fold: the stop the policy would have made, and once the fold has trained its full schedule, what that stop would have cost and saved.",
  });
export type FoldAudit = z.infer<typeof FoldAudit>;

export const FoldStatus = z
  .object({
    fold: z
      .string()
      .regex(/^([0-4]|all)$/)
      .meta({ description: "Fold key: 0 to 4 or all." }),
    phase: z.enum(FOLD_PHASES).meta({ description: "Where the fold is in its lifecycle." }),
    attempt: z
      .int()
      .min(0)
      .default(0)
      .meta({ description: "Training attempt, 0 for the first pod; grows on each resume." }),
    epoch: z.int().min(0).optional().meta({ description: "Last finished epoch." }),
    maxEpochs: z.int().min(1).optional().meta({ description: "Planned epochs of this fold." }),
    latestEma: z.number().optional().meta({ description: "EMA pseudo Dice after the last finished epoch." }),
    bestEma: z.number().optional().meta({ description: "Best EMA pseudo Dice so far." }),
    bestEpoch: z.int().min(0).optional().meta({ description: "Epoch of the best EMA pseudo Dice." }),
    batchSize: z
      .int()
      .min(1)
      .optional()
      .meta({ description: "Batch size of the current attempt (lower after an out-of-memory retry)." }),
    stopDecision: StopDecision.optional(),
    audit: FoldAudit.optional(),
    node: z.string().optional().meta({ description: "Node of the current or last training pod." }),
    pod: z.string().optional().meta({ description: "Current or last training pod." }),
    epochSeconds: z
      .number()
      .min(0)
      .optional()
      .meta({ description: "Current time of one epoch: the median of the last 50 epoch times, in seconds." }),
    predictedFinishAt: timestamp(
      "While the fold trains: when its training is predicted to end, the epochs left to the end of the schedule (or to the stop already decided) times the measured epoch time, from the last epoch's time.",
    ).optional(),
    gpuSecondsUsed: z.number().min(0).optional().meta({
      description:
        "GPU-seconds of the fold's training so far: the epoch times the trainer logged (every attempt, repeated epochs included) times GPUs per fold. Start-up, calibration and validation are not counted.",
    }),
    gpuSecondsPlanned: z.number().min(0).optional().meta({
      description:
        "GPU-seconds the full stock schedule would take: spec.schedule.maxEpochs at the plans' batch size, from the mean logged epoch time (rescaled by the calibration's measured throughput when the batch size changed), times GPUs per fold.",
    }),
    startedAt: timestamp("When training of the fold first started.").optional(),
    finishedAt: timestamp("When training of the fold finished.").optional(),
    validation: ValidationResult.optional(),
    reason: z
      .string()
      .max(1024)
      .optional()
      .meta({ description: "CamelCase reason for the phase, such as EarlyStopped." }),
    message: z
      .string()
      .max(4096)
      .optional()
      .meta({ description: "Details, such as the last log lines of a failed trainer." }),
  })
  .strict()
  .meta({ description: "Status of one fold." });
export type FoldStatus = z.infer<typeof FoldStatus>;

export const RunTotals = z
  .object({
    gpuSecondsUsed: z.number().min(0).meta({
      description: "Sum of the folds' gpuSecondsUsed: GPU-seconds of training epochs as the trainer logged them.",
    }),
    gpuSecondsPlanned: z.number().min(0).optional().meta({
      description:
        "Sum of the folds' gpuSecondsPlanned (folds with a logged epoch time): the full stock schedule at the plans' batch size.",
    }),
    gpuSecondsSaved: z.number().min(0).optional().meta({
      description:
        "Over the folds that finished training: gpuSecondsPlanned minus gpuSecondsUsed. Only realised savings; absent until a fold finishes.",
    }),
    savedPercent: z.number().min(0).max(100).optional().meta({
      description:
        "gpuSecondsSaved as a percentage of the finished folds' gpuSecondsPlanned, to 0.1. Once every fold finished: 100 x (1 - used / planned).",
    }),
  })
  .strict()
  .meta({
    description:
      "GPU accounting of the run, the one source of the GPU-time figures kubectl, the plugin, the demo and the metrics show.",
  });

export const RunAudit = z
  .object({
    folds: z.int().min(0).meta({ description: "Audited folds that finished their schedule." }),
    meanBestEmaLost: z
      .number()
      .optional()
      .meta({ description: "Mean best EMA pseudo Dice the would-be stops would have given up." }),
    meanDiceLost: z.number().optional().meta({
      description: "Mean validation Dice the would-be stops would have given up, over the folds with both validations.",
    }),
    gpuSecondsSaved: z
      .number()
      .min(0)
      .optional()
      .meta({ description: "GPU-seconds the would-be stops would have saved." }),
  })
  .strict()
  .meta({ description: "The run's audited folds together." });

export const RunSummary = z
  .object({
    folds: z
      .string()
      .optional()
      .meta({ description: "Folds that finished training over the run's folds, such as 2/5." }),
    epochs: z.string().optional().meta({
      description:
        "Last finished epoch (numbered from 0, as nnU-Net logs it) of the slowest and the furthest fold still training (of every fold once all finished) over their planned epochs, such as 211-339/500; one number when they agree, such as 339/500.",
    }),
    bestEma: z.number().optional().meta({ description: "Mean of the folds' best EMA pseudo Dice." }),
    gpuHours: z.number().min(0).optional().meta({ description: "totals.gpuSecondsUsed in GPU-hours, to 0.1." }),
    saved: z.string().optional().meta({
      description: "totals.gpuSecondsSaved in GPU-hours, to 0.1, with totals.savedPercent, such as 48.2 (72.4%).",
    }),
    predictedFinishAt: timestamp("While folds train: the latest of their predicted finishes.").optional(),
  })
  .strict()
  .meta({ description: "The run at a glance, for kubectl get." });

export const TrainingRunStatus = z
  .object({
    phase: z.enum(RUN_PHASES).optional().meta({ description: "Where the run is in its lifecycle." }),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .meta({ description: "metadata.generation this status was computed from." }),
    conditions: z
      .array(Condition)
      .max(32)
      .optional()
      .meta({
        description: "Conditions of the run, one per type.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
    queue: QueueStatus.optional(),
    calibration: CalibrationStatus.optional(),
    folds: z
      .array(FoldStatus)
      .max(6)
      .optional()
      .meta({
        description: "One entry per fold.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["fold"],
      }),
    totals: RunTotals.optional(),
    audit: RunAudit.optional(),
    summary: RunSummary.optional(),
  })
  .strict()
  .meta({ description: "Observed state of the run, recomputed by the operator." });
export type TrainingRunStatus = z.infer<typeof TrainingRunStatus>;
