import { z } from "zod";
import { EARLY_STOP_MODES, EARLY_STOP_POLICIES } from "./v1alpha1/spec.js";

// Messages between the reporter, the early-stop controller and the operator. JSON has no
// NaN or Infinity, yet a diverging run logs `train_loss nan`: losses travel as a number or
// as one of the strings "NaN", "Infinity", "-Infinity" and are numbers again after parsing.

export const MESSAGE_SCHEMA_VERSION = 1;

const NON_FINITE = ["NaN", "Infinity", "-Infinity"] as const;
export const LossValue = z
  .union([z.number(), z.enum(NON_FINITE).transform((s) => Number(s))])
  .meta({ description: 'A loss; "NaN", "Infinity" or "-Infinity" when the trainer logged a non-finite value.' });

/** JSON encoding of a possibly non-finite loss. */
export function encodeLoss(value: number): number | (typeof NON_FINITE)[number] {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "Infinity";
  if (value === -Infinity) return "-Infinity";
  return value;
}

const RunIdentity = {
  namespace: z.string().min(1).max(63).meta({ description: "Namespace of the TrainingRun." }),
  run: z.string().min(1).max(253).meta({ description: "Name of the TrainingRun." }),
  runUid: z.string().min(1).max(64).meta({ description: "metadata.uid of the TrainingRun." }),
  fold: z
    .string()
    .regex(/^([0-4]|all)$/)
    .meta({ description: "Fold key: 0 to 4 or all." }),
  attempt: z.int().min(0).meta({ description: "Attempt of the fold's training, 0 for the first pod." }),
};

export const EpochMetrics = z
  .object({
    schemaVersion: z.literal(MESSAGE_SCHEMA_VERSION).meta({ description: "Version of this message format." }),
    ...RunIdentity,
    epoch: z.int().min(0).meta({ description: "Epoch number as nnU-Net logs it (0-based)." }),
    trainLoss: LossValue.optional(),
    valLoss: LossValue.optional(),
    pseudoDice: z
      .array(z.number().meta({ description: "Pseudo Dice of one foreground class." }))
      .max(1024)
      .meta({ description: "Per-class pseudo Dice of the epoch." }),
    pseudoDiceMean: z.number().optional().meta({ description: "Mean of the per-class pseudo Dice." }),
    emaPseudoDice: z
      .number()
      .optional()
      .meta({ description: "EMA pseudo Dice after this epoch (0.9*ema + 0.1*mean)." }),
    newBest: z
      .boolean()
      .optional()
      .meta({ description: "Whether nnU-Net logged a new best EMA pseudo Dice at this epoch." }),
    epochTimeSeconds: z.number().min(0).optional().meta({ description: "Epoch time nnU-Net logged." }),
    learningRate: z.number().min(0).optional().meta({ description: "Learning rate of the epoch." }),
    loggedAt: z.iso
      .datetime({ offset: true })
      .optional()
      .meta({ description: "Timestamp of the epoch's last log line." }),
    observedAt: z.iso.datetime({ offset: true }).meta({ description: "When the reporter read the epoch's last line." }),
  })
  .strict()
  .meta({ description: "One finished nnU-Net epoch, published by the reporter sidecar." });
export type EpochMetrics = z.infer<typeof EpochMetrics>;
export type EpochMetricsInput = z.input<typeof EpochMetrics>;

export const Heartbeat = z
  .object({
    schemaVersion: z.literal(MESSAGE_SCHEMA_VERSION).meta({ description: "Version of this message format." }),
    ...RunIdentity,
    sentAt: z.iso.datetime({ offset: true }).meta({ description: "When the heartbeat was sent." }),
    lastEpoch: z.int().min(0).optional().meta({ description: "Last finished epoch the reporter saw." }),
    logFile: z.string().optional().meta({ description: "Training log being tailed." }),
    buffered: z.int().min(0).meta({ description: "Epoch messages waiting to be published." }),
  })
  .strict()
  .meta({ description: "Liveness of a fold's reporter, on core NATS." });
export type Heartbeat = z.infer<typeof Heartbeat>;

export const STOP_POLICIES = [...EARLY_STOP_POLICIES, "Divergence", "Manual"] as const;

export const StopForecast = z
  .object({
    gain: z.number().meta({
      description: "Predicted EMA pseudo Dice the rest of the schedule would add (the trend's point estimate).",
    }),
    gainUpper: z.number().meta({
      description: "Upper confidence bound of that gain; the Forecast policy stops when it stays below maxGain.",
    }),
    confidence: z.number().min(0).max(1).meta({ description: "Confidence of the bound." }),
    maxGain: z.number().min(0).meta({ description: "The run's spec.schedule.earlyStop.forecast.maxGain." }),
    epochsLeft: z.int().min(0).meta({ description: "Epochs of the schedule left after the decision epoch." }),
    maxEpochs: z.int().min(1).meta({ description: "Planned epochs of the fold." }),
  })
  .strict()
  .meta({ description: "The forecast a Forecast stop rested on, at the decision epoch." });
export type StopForecast = z.infer<typeof StopForecast>;
export const StopDecision = z
  .object({
    schemaVersion: z
      .literal(MESSAGE_SCHEMA_VERSION)
      .default(MESSAGE_SCHEMA_VERSION)
      .meta({ description: "Version of this format." }),
    epoch: z.int().min(0).meta({ description: "Last epoch seen when the decision was taken." }),
    policy: z.enum(STOP_POLICIES).meta({ description: "Policy that decided." }),
    reason: z.string().min(1).max(1024).meta({ description: "Why the fold was stopped, in words." }),
    bestEpoch: z
      .int()
      .min(0)
      .optional()
      .meta({ description: "Epoch of the best EMA pseudo Dice (checkpoint_best.pth)." }),
    bestEma: z.number().optional().meta({ description: "Best EMA pseudo Dice up to the decision." }),
    decidedAt: z.iso.datetime({ offset: true }).meta({ description: "When the decision was taken." }),
    mode: z
      .enum(EARLY_STOP_MODES)
      .optional()
      .meta({ description: "Audit: recorded without suspending the Job, the fold trains on. Absent means Enforce." }),
    forecast: StopForecast.optional(),
    trainedSeconds: z.number().min(0).optional().meta({
      description:
        "Sum of the logged epoch times through the decision epoch (the fold's training time up to the stop).",
    }),
  })
  .strict()
  .meta({
    description: "A stop decision, stored as JSON in the fold Job's nnunet-operator.io/stop-decision annotation.",
  });
export type StopDecision = z.infer<typeof StopDecision>;
export type StopPolicy = (typeof STOP_POLICIES)[number];

export const KEPT_CHECKPOINT_FILE = "checkpoint_best_at_decision.pth";

export const CheckpointKept = z
  .object({
    schemaVersion: z
      .literal(MESSAGE_SCHEMA_VERSION)
      .default(MESSAGE_SCHEMA_VERSION)
      .meta({ description: "Version of this format." }),
    kept: z.boolean().meta({ description: "Whether the copy of checkpoint_best.pth exists in the fold folder now." }),
    file: z.string().optional().meta({ description: "The copy's file name in the fold folder." }),
    error: z.string().max(1024).optional().meta({ description: "Why no copy could be taken." }),
  })
  .strict()
  .meta({
    description:
      "The reporter's reply to an audit's would-be stop decision sent to its fold (core NATS request on nnunet.decisions.<namespace>.<run>.<fold>): it has copied checkpoint_best.pth as it stood to checkpoint_best_at_decision.pth, so that both can be validated at the end.",
  });
export type CheckpointKept = z.infer<typeof CheckpointKept>;
