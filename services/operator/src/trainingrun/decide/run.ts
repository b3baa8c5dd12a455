import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { TrainingRun, TrainingRunStatus } from "@nnunet-operator/api";
import { buildCalibrateJob } from "../manifests/calibrate-job.js";
import { buildCalibrationCacheConfigMap, cacheEntryPatch } from "../manifests/calibration-cache.js";
import { runNamespace } from "../manifests/common.js";
import { buildTrainingJob } from "../manifests/training-job.js";
import { buildValidationJob } from "../manifests/validation-job.js";
import type { Demand } from "./admission.js";
import type { CalibrationAction } from "./calibration.js";
import type { FoldAction } from "./folds.js";
import { withClusterDefaults } from "./defaults.js";
import { decideParts, type RunWorld } from "./parts.js";
import { assembleStatus, type RunEvent, transitionEvents } from "./status.js";

// One pass over one run: the status to write, the writes to make, the events to emit.
//
// The reconciler's contract with this plan: write the status first (through the status
// subresource), then perform the actions in order. The order matters for restarts: the
// status carries the next attempt before the old Job is deleted, so a crash between the
// two never loses the attempt count. Creates treat AlreadyExists as success when the Job
// there is the run's own (a Job the run does not control comes back as foreign, and its work
// waits: ownership.ts); deletes carry the uid of the Job they were decided on, and treat
// NotFound, or a Job of that name with another uid, as success. Nothing else is read back.

export type KubeAction =
  | { readonly verb: "create"; readonly object: IJob; readonly why: string }
  | {
      readonly verb: "delete";
      readonly kind: "Job";
      readonly namespace: string;
      readonly name: string;
      /** The uid of the Job decided on: the delete is refused if the name holds another Job by then. */
      readonly uid: string | undefined;
      readonly propagationPolicy: "Foreground";
      readonly why: string;
    }
  | {
      readonly verb: "upsertConfigMapData";
      readonly namespace: string;
      readonly name: string;
      readonly patch: { data: Record<string, string> };
      readonly ifMissing: IConfigMap;
      readonly why: string;
    };

export interface RunPlan {
  readonly status: TrainingRunStatus;
  readonly actions: readonly KubeAction[];
  readonly events: readonly RunEvent[];
  /** GPU work the run would start now: the input of the next admission pass. */
  readonly wants: readonly Demand[];
  readonly requeueAfterSeconds?: number;
}

export function toKubeActions(
  run: TrainingRun,
  world: RunWorld,
  actions: readonly (CalibrationAction | FoldAction)[],
): KubeAction[] {
  const config = world.config;
  return actions.map((a): KubeAction => {
    switch (a.type) {
      case "CreateCalibrationJob":
        return { verb: "create", object: buildCalibrateJob(run, config), why: "calibrate the batch size" };
      case "WriteCalibrationCache": {
        const name = config.calibration.cacheConfigMap;
        return {
          verb: "upsertConfigMapData",
          namespace: runNamespace(run),
          name,
          patch: cacheEntryPatch(a.key, a.entry),
          ifMissing: buildCalibrationCacheConfigMap(runNamespace(run), name, { [a.key]: a.entry }),
          why: "cache the calibration",
        };
      }
      case "CreateTrainingJob":
        return {
          verb: "create",
          object: buildTrainingJob({
            run,
            config,
            fold: a.fold,
            attempt: a.attempt,
            batchSize: a.batchSize,
            trainer: a.trainer,
          }),
          why: `train fold ${a.fold}, attempt ${a.attempt}`,
        };
      case "DeleteTrainingJob":
        return deleteJob(run, world, a.name, `restart fold ${a.fold}: ${a.reason}`);
      case "DeleteCalibrationJob":
        return deleteJob(run, world, a.name, `end the calibration: ${a.reason}`);
      case "DeleteValidationJob":
        return deleteJob(run, world, a.name, `end the validation of fold ${a.fold}: ${a.reason}`);
      case "CreateValidationJob":
        return {
          verb: "create",
          object: buildValidationJob({
            run,
            config,
            fold: a.fold,
            trainer: a.trainer,
            batchSize: a.batchSize,
            checkpoint: a.checkpoint,
          }),
          why: `validate fold ${a.fold}`,
        };
    }
  });
}

/**
 * Foreground, so that the Job's pods (and their GPUs) are gone before the Job is; only the
 * Job of the run's world by that name (one it controls), by uid.
 */
function deleteJob(run: TrainingRun, world: RunWorld, name: string, why: string): KubeAction {
  const uid = world.jobs.find((j) => j.metadata?.name === name)?.metadata?.uid;
  return { verb: "delete", kind: "Job", namespace: runNamespace(run), name, uid, propagationPolicy: "Foreground", why };
}

export function decideRun(stored: TrainingRun, world: RunWorld, now: Date): RunPlan {
  const run = withClusterDefaults(stored, world.config);
  const parts = decideParts(run, world, now);
  const status = assembleStatus(run, parts, world, now);
  const events = transitionEvents(run.status, status);
  // A run being deleted starts nothing; owner references remove its children and
  // early-stop purges its epochs.
  if (run.metadata.deletionTimestamp) return { status, actions: [], events: [], wants: [] };
  const decided = [...parts.calibration.actions, ...parts.folds.flatMap((f) => f.actions)];
  const requeues = [parts.calibration, ...parts.folds]
    .map((f) => f.requeueAfterSeconds)
    .filter((s): s is number => s !== undefined);
  return {
    status,
    actions: toKubeActions(run, world, decided),
    events,
    wants: parts.wants,
    ...(requeues.length > 0 ? { requeueAfterSeconds: Math.min(...requeues) } : {}),
  };
}
