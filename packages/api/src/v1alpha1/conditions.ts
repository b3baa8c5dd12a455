import { z } from "zod";
import { timestamp } from "./shared.js";

// metav1.Condition, field for field, and the condition types and reasons of a TrainingRun.

export const CONDITION_STATUSES = ["True", "False", "Unknown"] as const;

export const Condition = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
      )
      .meta({ description: "Type of condition in CamelCase, such as Admitted or Calibrated." }),
    status: z.enum(CONDITION_STATUSES).meta({ description: "True, False or Unknown." }),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .meta({ description: "metadata.generation the condition was computed from." }),
    lastTransitionTime: timestamp("When the condition last changed status."),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .meta({ description: "Machine-readable CamelCase reason for the last transition." }),
    message: z.string().max(32768).meta({ description: "Human-readable details of the transition." }),
  })
  .strict()
  .meta({ description: "A metav1.Condition." });
export type Condition = z.infer<typeof Condition>;

export const ConditionType = {
  Admitted: "Admitted",
  Calibrated: "Calibrated",
  Training: "Training",
  Converged: "Converged",
  Validated: "Validated",
  Ready: "Ready",
  Failed: "Failed",
  Suspended: "Suspended",
  /** A Job name the run needs is held by a Job the run does not control (present once that happened). */
  JobConflict: "JobConflict",
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const ConditionReason = {
  Admitted: "Admitted",
  NoMatchingNodes: "NoMatchingNodes",
  QuotaExceeded: "QuotaExceeded",
  NoGpuCapacity: "NoGpuCapacity",
  ClaimNotFound: "ClaimNotFound",
  ImagePullFailed: "ImagePullFailed",
  Suspended: "Suspended",
  Calibrating: "Calibrating",
  Calibrated: "Calibrated",
  CalibrationCached: "CalibrationCached",
  CalibrationFailed: "CalibrationFailed",
  FixedBatchSize: "FixedBatchSize",
  PlansBatchSize: "PlansBatchSize",
  FoldsRunning: "FoldsRunning",
  EarlyStopped: "EarlyStopped",
  Completed: "Completed",
  Diverged: "Diverged",
  TrainerError: "TrainerError",
  RestartsExhausted: "RestartsExhausted",
  /** A pod the operator built could not start within the operator's startTimeouts (issue 17). */
  UnschedulableTimeout: "UnschedulableTimeout",
  ImagePullTimeout: "ImagePullTimeout",
  ContainerConfigTimeout: "ContainerConfigTimeout",
  FirstEpochTimeout: "FirstEpochTimeout",
  ValidationPassed: "ValidationPassed",
  ValidationFailed: "ValidationFailed",
  Succeeded: "Succeeded",
  /** A Job the run does not control holds the name of one it needs: that work waits (issue 17). */
  JobNameTaken: "JobNameTaken",
} as const;
export type ConditionReason = (typeof ConditionReason)[keyof typeof ConditionReason];

/**
 * Sets a condition in place of the one of the same type, keeping lastTransitionTime when the
 * status did not change (as apimachinery's meta.SetStatusCondition does). Pure: returns the
 * new list and whether anything changed.
 */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, "lastTransitionTime">,
  now: Date,
): { conditions: Condition[]; changed: boolean } {
  const existing = conditions.find((c) => c.type === next.type);
  if (!existing) {
    return { conditions: [...conditions, { ...next, lastTransitionTime: now.toISOString() }], changed: true };
  }
  const lastTransitionTime = existing.status === next.status ? existing.lastTransitionTime : now.toISOString();
  const merged: Condition = { ...next, lastTransitionTime };
  const changed =
    existing.status !== merged.status ||
    existing.reason !== merged.reason ||
    existing.message !== merged.message ||
    existing.observedGeneration !== merged.observedGeneration ||
    existing.lastTransitionTime !== merged.lastTransitionTime;
  return { conditions: conditions.map((c) => (c.type === next.type ? merged : c)), changed };
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}
