import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import { attemptAnnotation, foldJobName, runResultsSubPath, type TrainingRun } from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";
import { ANNOTATION_BATCH_SIZE } from "../decide/objects.js";
import {
  childLabels,
  childMetadata,
  dataMounts,
  dataVolumes,
  foldDir,
  MOUNT_PREPROCESSED,
  MOUNT_RESULTS,
  NNUNET_CONTAINER,
  nnunetEnv,
  placement,
  REPORTER_CONTAINER,
  resources,
  runName,
  runNamespace,
  trainingImage,
  containerHardening,
  podHardening,
} from "./common.js";
import { FOLD_CA_KEY, FOLD_CREDS_KEY, foldCredsSecretName } from "./fold-credentials.js";
import { DERIVE_PLANS_PY } from "./scripts.js";

export interface TrainingJobInput {
  readonly run: TrainingRun;
  readonly config: OperatorConfig;
  readonly fold: string;
  /** 0 for the first pod of the fold; each restart is a new Job with the next attempt. */
  readonly attempt: number;
  /** Batch size to train with; undefined trains with the plans file unchanged. */
  readonly batchSize: number | undefined;
  /** Plans identifier the batch size derives from (spec.plans). */
  readonly trainer: string;
}

const NATS_CREDS_DIR = "/etc/nnunet-operator/nats";

/** The plans identifier nnU-Net trains with: a derived `<plans>_bs<N>` when the batch size is set. */
export function trainingPlans(run: TrainingRun, batchSize: number | undefined): string {
  return batchSize === undefined ? run.spec.plans : `${run.spec.plans}_bs${batchSize}`;
}

export function trainArgs(
  run: TrainingRun,
  fold: string,
  trainer: string,
  plans: string,
  numGpus: number,
  extra: readonly string[],
): string[] {
  return [
    run.spec.dataset,
    run.spec.configuration,
    fold,
    "-tr",
    trainer,
    "-p",
    plans,
    "-num_gpus",
    String(numGpus),
    ...extra,
  ];
}

/** The init container that writes `<plans>_bs<N>.json` when training uses a derived batch size. */
export function derivePlansContainer(run: TrainingRun, config: OperatorConfig, batchSize: number): IContainer {
  return {
    name: "derive-plans",
    image: trainingImage(run, config),
    imagePullPolicy: config.images.pullPolicy,
    command: ["python3", "-c", DERIVE_PLANS_PY],
    args: [MOUNT_PREPROCESSED, run.spec.dataset, run.spec.plans, run.spec.configuration, String(batchSize)],
    volumeMounts: [{ name: "data", mountPath: MOUNT_PREPROCESSED, subPath: run.spec.storage.preprocessedSubPath }],
    resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } },
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: containerHardening(),
  };
}

function reporterSidecar(input: TrainingJobInput): { container: IContainer; volumes: IVolume[] } {
  const { run, config, fold, attempt, trainer } = input;
  // With NATS auth each attempt has its own credential (minted by the operator just before
  // the Job is created); the shared credsSecret is for an external NATS without it.
  const creds = config.nats.auth
    ? { name: foldCredsSecretName(runName(run), fold, attempt), key: FOLD_CREDS_KEY }
    : config.nats.credsSecret;
  const ca = config.nats.auth && config.nats.tlsCaFile ? FOLD_CA_KEY : undefined;
  const env: IEnvVar[] = [
    { name: "NNUNET_NAMESPACE", value: runNamespace(run) },
    { name: "NNUNET_RUN", value: runName(run) },
    { name: "NNUNET_RUN_UID", value: run.metadata.uid ?? "" },
    { name: "NNUNET_FOLD", value: fold },
    { name: "NNUNET_ATTEMPT", value: String(attempt) },
    { name: "NNUNET_FOLD_DIR", value: foldDir(run, trainer, fold, trainingPlans(run, input.batchSize)) },
    { name: "NATS_URL", value: config.nats.url },
    ...(creds ? [{ name: "NATS_CREDS_FILE", value: `${NATS_CREDS_DIR}/${creds.key}` }] : []),
    ...(ca ? [{ name: "NATS_TLS_CA_FILE", value: `${NATS_CREDS_DIR}/${ca}` }] : []),
  ];
  const mounts: IVolumeMount[] = [
    { name: "data", mountPath: MOUNT_RESULTS, subPath: runResultsSubPath(run), readOnly: true },
    ...(creds ? [{ name: "nats-creds", mountPath: NATS_CREDS_DIR, readOnly: true }] : []),
  ];
  return {
    container: {
      name: REPORTER_CONTAINER,
      image: config.images.reporter,
      imagePullPolicy: config.images.pullPolicy,
      // A native sidecar: starts before nnU-Net, lives as long as it, and does not keep the
      // pod (and so the Job) running once nnU-Net has exited.
      restartPolicy: "Always",
      env,
      volumeMounts: mounts,
      resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
      securityContext: { ...containerHardening(), readOnlyRootFilesystem: true },
    },
    volumes: creds
      ? [
          {
            name: "nats-creds",
            secret: {
              secretName: creds.name,
              defaultMode: 0o440,
              items: [creds.key, ...(ca ? [ca] : [])].map((key) => ({ key, path: key })),
            },
          },
        ]
      : [],
  };
}

/**
 * One Job per fold and attempt, with the fixed name `<run>-fold-<f>`.
 *
 * Why one pod per Job (backoffLimit 0) and a new Job per attempt, instead of letting the
 * Job controller replace failed pods: a resumed pod differs from the first (`--c`, a new
 * NNUNET_ATTEMPT so the reporter's message ids do not collide with the epochs the lost pod
 * already published, and after a CUDA out-of-memory exit a smaller batch size), and a pod
 * template cannot change inside a Job. The attempt and the batch size ride on the Job's
 * annotations, and the operator writes the next attempt into the run's status before it
 * deletes the old Job (foreground, so the old pod is gone before the new one starts and
 * two trainers never write the same fold folder). After an
 * operator restart the world alone says what to do: a Job of an older attempt than the
 * status is deleted, a missing Job is created with the status' attempt, and a create that
 * meets AlreadyExists is success. Nothing is duplicated and nothing is lost.
 */
export function buildTrainingJob(input: TrainingJobInput): IJob {
  const { run, config, fold, attempt, batchSize, trainer } = input;
  const plans = trainingPlans(run, batchSize);
  const resume = attempt > 0;
  const sidecar = reporterSidecar(input);
  const annotations: Record<string, string> = {
    ...attemptAnnotation(attempt),
    ...(batchSize !== undefined ? { [ANNOTATION_BATCH_SIZE]: String(batchSize) } : {}),
  };
  const nnunet: IContainer = {
    name: NNUNET_CONTAINER,
    image: trainingImage(run, config),
    imagePullPolicy: config.images.pullPolicy,
    command: ["nnUNetv2_train"],
    args: trainArgs(run, fold, trainer, plans, run.spec.gpu.perFold, resume ? ["--c"] : []),
    env: nnunetEnv(),
    volumeMounts: dataMounts(run),
    resources: resources(run, run.spec.gpu.perFold),
    // The tail of nnU-Net's log (a CUDA out-of-memory line, a traceback) reaches the pod
    // status when it fails, which is how the operator tells the failures apart.
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: containerHardening(),
  };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: childMetadata(run, foldJobName(runName(run), fold), "train", fold, annotations),
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      // Never start a replacement while the old pod is still terminating.
      podReplacementPolicy: "Failed",
      template: {
        metadata: { labels: childLabels(run, "train", fold), annotations },
        spec: {
          restartPolicy: "Never",
          enableServiceLinks: false,
          ...podHardening(),
          ...placement(run, config),
          initContainers: [
            ...(batchSize !== undefined ? [derivePlansContainer(run, config, batchSize)] : []),
            sidecar.container,
          ],
          containers: [nnunet],
          volumes: [...dataVolumes(run), ...sidecar.volumes],
          // nnU-Net writes checkpoint_latest only every 50 epochs; a graceful stop cannot
          // save more, so the grace period only has to cover the reporter's last publish.
          terminationGracePeriodSeconds: 60,
        },
      },
    },
  };
}
