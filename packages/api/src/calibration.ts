import { z } from "zod";

// The calibrator's result: printed on stdout and written to /dev/termination-log (kept
// under 4 KiB, so names are short and probes are compact). The Python calibrator is
// tested against the JSON Schema exported from this file (schemas/calibration-result.schema.json).

export const CALIBRATION_SCHEMA_VERSION = 1;
/** Kubernetes truncates termination messages at 4096 bytes. */
export const TERMINATION_MESSAGE_LIMIT_BYTES = 4096;

export const CalibrationProbe = z
  .object({
    batchSize: z.int().min(1).meta({ description: "Batch size probed." }),
    fits: z.boolean().meta({ description: "Whether the training steps ran without running out of memory." }),
    peakMemoryMiB: z.number().min(0).optional().meta({ description: "Peak reserved GPU memory in MiB." }),
    samplesPerSecond: z
      .number()
      .min(0)
      .optional()
      .meta({ description: "Training samples per second in the timed steps." }),
    withinHeadroom: z
      .boolean()
      .optional()
      .meta({ description: "Whether the peak stayed under (1 - headroom) of the GPU memory." }),
  })
  .strict()
  .meta({ description: "One probed batch size." });
export type CalibrationProbe = z.infer<typeof CalibrationProbe>;

export const CalibrationResult = z
  .object({
    schemaVersion: z.literal(CALIBRATION_SCHEMA_VERSION).meta({ description: "Version of this message format." }),
    chosenBatchSize: z.int().min(1).meta({ description: "Batch size chosen for training." }),
    plansBatchSize: z.int().min(1).meta({ description: "Batch size in the original plans." }),
    plans: z.string().min(1).meta({ description: "Identifier of the original plans, such as nnUNetPlans." }),
    derivedPlans: z
      .string()
      .min(1)
      .meta({ description: "Identifier of the derived plans written beside it, such as nnUNetPlans_bs8." }),
    configuration: z.string().min(1).meta({ description: "nnU-Net configuration calibrated." }),
    objective: z.enum(["throughput", "memory"]).meta({ description: "Selection objective." }),
    precision: z.enum(["mixed", "full"]).meta({ description: "Precision the probes ran under." }),
    headroom: z.number().min(0).max(1).meta({ description: "Fraction of GPU memory left free." }),
    backend: z.enum(["torch", "simulated"]).meta({ description: "Backend that ran the probes." }),
    builder: z.enum(["nnunetv2", "fallback", "simulated"]).meta({ description: "Which code built the network." }),
    gpu: z
      .object({
        name: z.string().meta({ description: "GPU name as the driver reports it." }),
        memoryMiB: z.number().min(0).meta({ description: "Total GPU memory in MiB." }),
      })
      .strict()
      .meta({ description: "The GPU probed." }),
    torchVersion: z.string().optional().meta({ description: "torch.__version__, when torch ran." }),
    nnunetVersion: z.string().optional().meta({ description: "nnunetv2 version, when importable." }),
    probes: z.array(CalibrationProbe).max(64).meta({ description: "Every probed batch size, in probe order." }),
    loaderSamplesPerSecond: z
      .number()
      .min(0)
      .optional()
      .meta({ description: "Samples per second nnU-Net's data loader delivered, when it could be measured." }),
    inputBound: z
      .boolean()
      .optional()
      .meta({ description: "Whether training at the chosen size would wait on the data loader." }),
    durationSeconds: z.number().min(0).optional().meta({ description: "Wall time of the calibration." }),
  })
  .strict()
  .meta({ description: "Result of a batch-size calibration, written by the calibrator as its termination message." });
export type CalibrationResult = z.infer<typeof CalibrationResult>;

/** Exit codes of `python -m nnunet_calibrate`. */
export const CalibratorExitCode = { Chosen: 0, BadInput: 2, NothingFits: 3 } as const;
