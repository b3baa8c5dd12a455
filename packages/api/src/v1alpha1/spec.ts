import { z } from "zod";
import { dnsLabel, dnsSubdomain, FoldId, positiveQuantity } from "./shared.js";

// The TrainingRun spec: what the user asks for. Every field carries a description, which
// becomes `kubectl explain` text. Nested objects default through `.prefault({})` so that
// their own field defaults apply, exactly as the API server applies `default: {}`.

const PYTHON_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const identifierError = "must be a Python identifier: letters, digits and '_', not starting with a digit";

export const CONFIGURATIONS = ["2d", "3d_fullres", "3d_lowres", "3d_cascade_fullres"] as const;
export const BATCH_SIZE_MODES = ["Auto", "Fixed", "Plans"] as const;
export const BATCH_SIZE_OBJECTIVES = ["Throughput", "Memory"] as const;
export const PRECISIONS = ["Mixed", "Full"] as const;
export const EARLY_STOP_POLICIES = ["Forecast", "Patience", "Plateau"] as const;
export const EARLY_STOP_MODES = ["Enforce", "Audit"] as const;
export const MONITORS = ["EmaPseudoDice", "PseudoDice", "ValLoss"] as const;
export const VALIDATION_CHECKPOINTS = ["best", "final"] as const;

/** A relative folder under the claim: no leading '/', no '.' or '..' components. */
const SUB_PATH_PATTERN = "^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$";
function subPath(description: string, fallback: string) {
  return z
    .string()
    .max(255)
    .regex(new RegExp(SUB_PATH_PATTERN), {
      error: "must be a relative path inside the claim, without a leading '/' and without '.' or '..' components",
    })
    .default(fallback)
    .meta({ description });
}

/** A label value such as `NVIDIA-L40S`, as GPU feature discovery writes it. */
export const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** A qualified label key such as `nvidia.com/gpu.product`. */
export const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const StorageSpec = z
  .object({
    claimName: dnsSubdomain(
      "Name of the PersistentVolumeClaim, in the run's namespace, that holds the nnU-Net folders.",
    ),
    rawSubPath: subPath("Folder inside the claim mounted as nnUNet_raw.", "nnUNet_raw"),
    preprocessedSubPath: subPath(
      "Folder inside the claim mounted as nnUNet_preprocessed (plans files and preprocessed data).",
      "nnUNet_preprocessed",
    ),
    resultsSubPath: subPath(
      "Folder inside the claim mounted as nnUNet_results (logs and checkpoints).",
      "nnUNet_results",
    ),
  })
  .strict()
  .meta({ description: "Where the nnU-Net data lives: one PersistentVolumeClaim with the three nnU-Net folders." });

export const GpuSpec = z
  .object({
    productLabel: z
      .string()
      .max(316)
      .regex(LABEL_KEY, { error: "must be a label key such as nvidia.com/gpu.product" })
      .default("nvidia.com/gpu.product")
      .meta({ description: "Node label that names the GPU product, as set by NVIDIA GPU feature discovery." }),
    products: z
      .array(
        z
          .string()
          .max(63)
          .regex(LABEL_VALUE, { error: "must be a label value such as NVIDIA-L40S" })
          .meta({ description: "A GPU product label value, such as NVIDIA-L40S." }),
      )
      .min(1)
      .max(16)
      .default(["NVIDIA-L40S"])
      .meta({ description: "GPU products a fold may run on; pods get a required node affinity to these values." }),
    perFold: z.int().min(1).max(8).default(1).meta({ description: "GPUs per fold, passed to nnU-Net as -num_gpus." }),
  })
  .strict()
  .meta({ description: "GPU placement: which nodes qualify and how many GPUs each fold uses." });

export const BatchSizeSpec = z
  .object({
    mode: z.enum(BATCH_SIZE_MODES).default("Auto").meta({
      description:
        "Auto: a calibration pre-job probes the GPU and picks the batch size. Fixed: use value. Plans: keep the batch size of the plans file.",
    }),
    value: z
      .int()
      .min(1)
      .max(1024)
      .optional()
      .meta({ description: "Batch size to train with; required when mode is Fixed." }),
    memoryHeadroom: z
      .number()
      .min(0)
      .max(0.5)
      .default(0.1)
      .meta({ description: "Fraction of GPU memory calibration leaves free (0.1 keeps peak memory under 90%)." }),
    maxBatchSize: z
      .int()
      .min(1)
      .max(1024)
      .default(64)
      .meta({ description: "Largest batch size calibration will try." }),
    objective: z.enum(BATCH_SIZE_OBJECTIVES).default("Throughput").meta({
      description:
        "Throughput: the size with the most samples per second. Memory: the largest size that fits under the headroom.",
    }),
  })
  .strict()
  .meta({ description: "How the batch size is chosen." });

export const PlateauSpec = z
  .object({
    window: z.int().min(2).max(1000).default(4).meta({
      description: "Number of most recent epochs whose monitored value must stay within std (Ray's num_results).",
    }),
    std: z
      .number()
      .min(0)
      .max(1)
      .default(0.01)
      .meta({ description: "Standard deviation under which the window counts as a plateau (Ray's std)." }),
  })
  .strict()
  .meta({ description: "Parameters of the Plateau policy, modelled on Ray Tune's TrialPlateauStopper." });

export const ForecastSpec = z
  .object({
    maxGain: z.number().min(0).max(1).default(0.0015).meta({
      description:
        "Stop when the EMA pseudo Dice the rest of the schedule is predicted to add stays below this value (at the given confidence, for 5 epochs in a row). The default is the risk-controlled calibration on 79 real nnU-Net curves from 16 repositories (mean best-EMA loss bounded by 0.002 at 95% confidence, with a bound that does not depend on the curves' order).",
    }),
    confidence: z
      .number()
      .min(0.5)
      .max(0.999)
      .default(0.975)
      .meta({ description: "Probability with which the predicted remaining gain must stay below maxGain." }),
  })
  .strict()
  .meta({
    description:
      "Parameters of the Forecast policy, which predicts the gain the remaining PolyLR schedule would bring.",
  });

export const EarlyStopSpec = z
  .object({
    enabled: z.boolean().default(true).meta({ description: "Stop a fold once it has converged." }),
    mode: z.enum(EARLY_STOP_MODES).default("Enforce").meta({
      description:
        "Enforce: stop a fold when the policy decides. Audit: record the decision the policy would take on the fold's Job and let the fold train its full schedule, so that its status shows what that stop would have cost (best EMA and validation Dice) and saved (GPU-seconds). The operator also audits a sample of Enforce folds (its earlyStop.auditFraction).",
    }),
    policy: z.enum(EARLY_STOP_POLICIES).default("Forecast").meta({
      description:
        "Forecast: stop when the predicted remaining gain is small. Patience: stop after patience epochs without improvement. Plateau: stop when the last window epochs vary less than std.",
    }),
    monitor: z.enum(MONITORS).default("EmaPseudoDice").meta({
      description:
        "Metric the policy watches: the EMA pseudo Dice nnU-Net logs, the raw mean pseudo Dice, or the validation loss.",
    }),
    minEpochs: z
      .int()
      .min(0)
      .max(10000)
      .default(50)
      .meta({ description: "No stop decision before this many epochs have finished." }),
    patience: z
      .int()
      .min(1)
      .max(10000)
      .default(100)
      .meta({ description: "Patience policy: epochs without an improvement of at least minDelta before stopping." }),
    minDelta: z
      .number()
      .min(0)
      .max(1)
      .default(0.001)
      .meta({ description: "Patience policy: smallest change of the monitored value that counts as an improvement." }),
    plateau: PlateauSpec.prefault({}),
    forecast: ForecastSpec.prefault({}),
    stallAfterEpochTimes: z.number().min(2).max(100).default(5).meta({
      description:
        "A fold that logs no epoch for this many median epoch times, while its reporter's heartbeat shows the training log has not moved, is restarted by the operator. Missing epochs alone (a lost NATS stream) never count as a stall.",
    }),
  })
  .strict()
  .meta({
    description:
      "Convergence monitoring. Divergence (a NaN or infinite loss) always stops a fold, whatever the policy.",
  });

export const ScheduleSpec = z
  .object({
    maxEpochs: z
      .int()
      .min(1)
      .max(10000)
      .default(1000)
      .meta({ description: "Planned epochs at the plans' batch size (nnU-Net's default is 1000)." }),
    keepSamplesConstant: z.boolean().default(true).meta({
      description:
        "When the batch size grows k-fold over the plans, divide maxEpochs by k (rounded to the nearest stock nnUNetTrainer_<N>epochs variant) so the run sees the same number of samples.",
    }),
    earlyStop: EarlyStopSpec.prefault({}),
  })
  .strict()
  .meta({ description: "The training schedule and when to stop early." });

export const ResourcesSpec = z
  .object({
    cpu: positiveQuantity(
      "CPU request and limit of the training container (data augmentation workers run here).",
    ).default("8"),
    memory: positiveQuantity("Memory request and limit of the training container.").default("64Gi"),
    shmSize: positiveQuantity("Size of the memory-backed /dev/shm for the data loader.").default("16Gi"),
  })
  .strict()
  .meta({ description: "Resources of each fold's training container, besides its GPUs." });

export const ValidationSpec = z
  .object({
    enabled: z.boolean().default(true).meta({ description: "Run nnU-Net validation after each fold finishes." }),
    checkpoint: z.enum(VALIDATION_CHECKPOINTS).default("best").meta({
      description:
        "Checkpoint to validate: best (checkpoint_best.pth, nnU-Net's --val_best) or final (checkpoint_final.pth).",
    }),
  })
  .strict()
  .meta({ description: "Validation after training." });

export const TrainingRunSpec = z
  .object({
    dataset: z
      .string()
      .max(100)
      .regex(/^Dataset[0-9]{3}_[A-Za-z0-9_-]+$/, {
        error: "must be an nnU-Net v2 dataset name such as Dataset003_Liver",
      })
      .meta({ description: "nnU-Net dataset name, such as Dataset003_Liver. Immutable." }),
    configuration: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_]+$/, { error: "must be a configuration name such as 3d_fullres: letters, digits and '_'" })
      .meta({
        description: `nnU-Net configuration: ${CONFIGURATIONS.join(", ")}, or a custom configuration of the plans. Immutable.`,
      }),
    folds: z
      .array(FoldId)
      .min(1)
      .max(6)
      .default([0, 1, 2, 3, 4])
      .meta({ description: "Folds to train, each in its own Job.", "x-kubernetes-list-type": "set" }),
    trainer: z
      .string()
      .max(200)
      .regex(PYTHON_IDENTIFIER, { error: identifierError })
      .default("nnUNetTrainer")
      .meta({ description: "nnU-Net trainer class (-tr)." }),
    plans: z
      .string()
      .max(200)
      .regex(PYTHON_IDENTIFIER, { error: identifierError })
      .default("nnUNetPlans")
      .meta({ description: "nnU-Net plans identifier (-p); calibration derives <plans>_bs<N> from it." }),
    image: z
      .string()
      .max(512)
      .regex(/^[^\s]+$/, { error: "must be a container image reference without spaces" })
      .optional()
      .meta({ description: "Training image with nnunetv2 and the calibrator; the operator's default when unset." }),
    storage: StorageSpec,
    gpu: GpuSpec.prefault({}),
    batchSize: BatchSizeSpec.prefault({}),
    precision: z
      .enum(PRECISIONS)
      .default("Mixed")
      .meta({ description: "Mixed: automatic mixed precision (nnU-Net's default on CUDA). Full: float32 throughout." }),
    schedule: ScheduleSpec.prefault({}),
    queue: dnsLabel("Queue the run waits in; GPU quotas are set per queue in the operator's configuration.").default(
      "default",
    ),
    priority: z
      .int()
      .min(-1000)
      .max(1000)
      .default(0)
      .meta({ description: "Higher priority runs are admitted first; ties go to the older run." }),
    priorityClassName: dnsSubdomain("PriorityClass of the training pods.").optional(),
    resources: ResourcesSpec.prefault({}),
    maxRestarts: z.int().min(0).max(20).default(3).meta({
      description: "Times a fold is resumed from checkpoint_latest after a retryable failure (node loss, eviction).",
    }),
    validation: ValidationSpec.prefault({}),
    suspend: z
      .boolean()
      .default(false)
      .meta({ description: "Hold the run: nothing new is admitted or started while true." }),
  })
  .strict()
  .meta({ description: "What to train and how." });

export type TrainingRunSpec = z.infer<typeof TrainingRunSpec>;
export type TrainingRunSpecInput = z.input<typeof TrainingRunSpec>;
export type BatchSizeSpec = z.infer<typeof BatchSizeSpec>;
export type EarlyStopSpec = z.infer<typeof EarlyStopSpec>;
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;
export type GpuSpec = z.infer<typeof GpuSpec>;
export type EarlyStopPolicy = (typeof EARLY_STOP_POLICIES)[number];
export type EarlyStopMode = (typeof EARLY_STOP_MODES)[number];
export type Monitor = (typeof MONITORS)[number];
