import type { IJob } from "kubernetes-models/batch/v1/Job";
import { validateJobName, type TrainingRun } from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";
import {
  childLabels,
  childMetadata,
  dataMounts,
  dataVolumes,
  foldDir,
  NNUNET_CONTAINER,
  nnunetEnv,
  placement,
  resources,
  runName,
  trainingImage,
  containerHardening,
  podHardening,
} from "./common.js";
import { VALIDATE_PY } from "./scripts.js";
import { trainArgs, trainingPlans } from "./training-job.js";

export interface ValidationJobInput {
  readonly run: TrainingRun;
  readonly config: OperatorConfig;
  readonly fold: string;
  readonly trainer: string;
  /** Batch size the fold trained with: the plans name must match the training's. */
  readonly batchSize: number | undefined;
  readonly checkpoint: "best" | "final";
}

/** Whether validation uses checkpoint_best.pth: only after an early stop with checkpoint best. */
export function validationCheckpoint(run: TrainingRun, earlyStopped: boolean): "best" | "final" {
  return earlyStopped && run.spec.validation.checkpoint === "best" ? "best" : "final";
}

/**
 * `<run>-validate-<f>`: `nnUNetv2_train ... --val [--val_best]` wrapped so that the Dice
 * summary reaches the termination message. Validation is deterministic, so a couple of pod
 * retries (lost nodes) are all it needs.
 */
export function buildValidationJob(input: ValidationJobInput): IJob {
  const { run, config, fold, trainer, checkpoint } = input;
  const plans = trainingPlans(run, input.batchSize);
  const extra = checkpoint === "best" ? ["--val", "--val_best"] : ["--val"];
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: childMetadata(run, validateJobName(runName(run), fold), "validate", fold),
    spec: {
      backoffLimit: 2,
      completions: 1,
      parallelism: 1,
      podReplacementPolicy: "Failed",
      template: {
        metadata: { labels: childLabels(run, "validate", fold) },
        spec: {
          restartPolicy: "Never",
          enableServiceLinks: false,
          ...podHardening(),
          ...placement(run, config),
          containers: [
            {
              name: NNUNET_CONTAINER,
              image: trainingImage(run, config),
              imagePullPolicy: config.images.pullPolicy,
              command: ["python3", "-c", VALIDATE_PY],
              args: [
                foldDir(run, trainer, fold, plans),
                checkpoint,
                "nnUNetv2_train",
                ...trainArgs(run, fold, trainer, plans, 1, extra),
              ],
              env: nnunetEnv(),
              volumeMounts: dataMounts(run),
              // Validation predicts the fold's cases on one GPU, whatever training used.
              resources: resources(run, 1),
              terminationMessagePolicy: "FallbackToLogsOnError",
              securityContext: containerHardening(),
            },
          ],
          volumes: dataVolumes(run),
        },
      },
    },
  };
}
