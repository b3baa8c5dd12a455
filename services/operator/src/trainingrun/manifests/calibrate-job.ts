import type { IJob } from "kubernetes-models/batch/v1/Job";
import { calibrateJobName, CalibratorExitCode, type TrainingRun } from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";
import {
  CALIBRATE_CONTAINER,
  childLabels,
  childMetadata,
  dataMounts,
  dataVolumes,
  nnunetEnv,
  placement,
  resources,
  runName,
  trainingImage,
  containerHardening,
  podHardening,
} from "./common.js";

export function calibrateArgs(run: TrainingRun, config: OperatorConfig): string[] {
  const b = run.spec.batchSize;
  return [
    "--dataset",
    run.spec.dataset,
    "--configuration",
    run.spec.configuration,
    "--plans",
    run.spec.plans,
    "--headroom",
    String(b.memoryHeadroom),
    "--max-batch",
    String(b.maxBatchSize),
    "--objective",
    b.objective.toLowerCase(),
    "--precision",
    run.spec.precision.toLowerCase(),
    "--backend",
    config.calibration.backend,
  ];
}

/**
 * `<run>-calibrate`: the calibrator on one GPU of an accepted product, in the training
 * image. Unlike training, retries stay inside this one Job (backoffLimit = retry limit):
 * every attempt is identical, so the Job controller's own pod replacement is the simplest
 * thing that survives operator restarts. Exit codes 2 (bad input) and 3 (nothing fits)
 * will not change on a retry and fail the Job at once; a disrupted pod (node lost,
 * evicted) is not counted against the limit.
 */
export function buildCalibrateJob(run: TrainingRun, config: OperatorConfig): IJob {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: childMetadata(run, calibrateJobName(runName(run)), "calibrate"),
    spec: {
      backoffLimit: config.calibration.retryLimit,
      completions: 1,
      parallelism: 1,
      podReplacementPolicy: "Failed",
      podFailurePolicy: {
        rules: [
          {
            action: "FailJob",
            onExitCodes: {
              containerName: CALIBRATE_CONTAINER,
              operator: "In",
              values: [CalibratorExitCode.BadInput, CalibratorExitCode.NothingFits],
            },
          },
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        ],
      },
      template: {
        metadata: { labels: childLabels(run, "calibrate") },
        spec: {
          restartPolicy: "Never",
          enableServiceLinks: false,
          ...podHardening(),
          ...placement(run, config),
          containers: [
            {
              name: CALIBRATE_CONTAINER,
              image: trainingImage(run, config),
              imagePullPolicy: config.images.pullPolicy,
              command: ["python3", "-m", "nnunet_calibrate"],
              args: calibrateArgs(run, config),
              env: nnunetEnv(),
              volumeMounts: dataMounts(run),
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
