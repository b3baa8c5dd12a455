import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IToleration } from "kubernetes-models/v1/Toleration";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import {
  API_VERSION,
  KIND,
  LABEL_FOLD,
  LABEL_ROLE,
  LABEL_RUN,
  type Role,
  runResultsSubPath,
  type TrainingRun,
} from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";
import { GPU_RESOURCE } from "../decide/objects.js";

export type IOwnerReference = NonNullable<NonNullable<IJob["metadata"]>["ownerReferences"]>[number];

// Pieces every child of a run shares: identity, placement, the data volume and /dev/shm.

export const MOUNT_RAW = "/nnunet/raw";
export const MOUNT_PREPROCESSED = "/nnunet/preprocessed";
export const MOUNT_RESULTS = "/nnunet/results";
export const NNUNET_CONTAINER = "nnunet";
export const CALIBRATE_CONTAINER = "calibrate";
export const REPORTER_CONTAINER = "reporter";

export function runName(run: TrainingRun): string {
  return run.metadata.name ?? "";
}
export function runNamespace(run: TrainingRun): string {
  return run.metadata.namespace ?? "default";
}

export function ownerReference(run: TrainingRun): IOwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: runName(run),
    uid: run.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function childLabels(run: TrainingRun, role: Role, fold?: string): Record<string, string> {
  return {
    [LABEL_RUN]: runName(run),
    [LABEL_ROLE]: role,
    ...(fold !== undefined ? { [LABEL_FOLD]: fold } : {}),
    "app.kubernetes.io/managed-by": "nnunet-operator",
  };
}

export function childMetadata(
  run: TrainingRun,
  name: string,
  role: Role,
  fold?: string,
  annotations?: Record<string, string>,
) {
  return {
    name,
    namespace: runNamespace(run),
    labels: childLabels(run, role, fold),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    ownerReferences: [ownerReference(run)],
  };
}

export function trainingImage(run: TrainingRun, config: OperatorConfig): string {
  return run.spec.image ?? config.images.training;
}

/** The GPU device-plugin taint is always tolerated; the configuration may add more. */
export function gpuTolerations(config: OperatorConfig): IToleration[] {
  return [
    { key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" },
    ...config.gpu.extraTolerations.map(
      (t): IToleration => ({
        operator: t.operator,
        ...(t.key !== undefined ? { key: t.key } : {}),
        ...(t.value !== undefined ? { value: t.value } : {}),
        ...(t.effect !== undefined ? { effect: t.effect } : {}),
      }),
    ),
  ];
}

/** Required node affinity to the accepted GPU products plus tolerations and priority class. */
export function placement(
  run: TrainingRun,
  config: OperatorConfig,
): Pick<IPodSpec, "affinity" | "tolerations" | "priorityClassName"> {
  return {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: run.spec.gpu.productLabel, operator: "In", values: [...run.spec.gpu.products] },
              ],
            },
          ],
        },
      },
    },
    tolerations: gpuTolerations(config),
    ...(run.spec.priorityClassName ? { priorityClassName: run.spec.priorityClassName } : {}),
  };
}

/** The claim with the three nnU-Net folders and a memory-backed /dev/shm for the data loader. */
export function dataVolumes(run: TrainingRun): IVolume[] {
  return [
    { name: "data", persistentVolumeClaim: { claimName: run.spec.storage.claimName } },
    { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: String(run.spec.resources.shmSize) } },
  ];
}

export function dataMounts(run: TrainingRun, opts: { readOnlyRaw?: boolean } = {}): IVolumeMount[] {
  const s = run.spec.storage;
  return [
    { name: "data", mountPath: MOUNT_RAW, subPath: s.rawSubPath, readOnly: opts.readOnlyRaw ?? true },
    { name: "data", mountPath: MOUNT_PREPROCESSED, subPath: s.preprocessedSubPath },
    // The run's own folder below resultsSubPath: nnU-Net's fold folders are named without the
    // run, so this is what keeps two runs (and a resume) out of each other's checkpoints.
    { name: "data", mountPath: MOUNT_RESULTS, subPath: runResultsSubPath(run) },
    { name: "dshm", mountPath: "/dev/shm" },
  ];
}

export function nnunetEnv(): IEnvVar[] {
  return [
    { name: "nnUNet_raw", value: MOUNT_RAW },
    { name: "nnUNet_preprocessed", value: MOUNT_PREPROCESSED },
    { name: "nnUNet_results", value: MOUNT_RESULTS },
    // Unbuffered so the reporter sees each epoch line as nnU-Net prints it.
    { name: "PYTHONUNBUFFERED", value: "1" },
  ];
}

/** cpu and memory from spec.resources; GPUs as requests == limits (extended resources). */
export function resources(run: TrainingRun, gpus: number): NonNullable<IContainer["resources"]> {
  const r = run.spec.resources;
  const amounts = { cpu: String(r.cpu), memory: String(r.memory), [GPU_RESOURCE]: String(gpus) };
  return { requests: { ...amounts }, limits: { ...amounts } };
}

/**
 * The fold's output folder as nnU-Net names it: `<Trainer>__<plans_name>__<config>`, where
 * `plans` is the plans identifier the fold trains with. A derived `<plans>_bs<N>.json` has
 * `plans_name` `<plans>_bs<N>` (the calibrator's rule, which DERIVE_PLANS_PY follows), so a
 * fold trained with a calibrated batch size has its own folder. After an out-of-memory
 * step-down the next attempt trains in the smaller batch size's folder; `--c` finds no
 * checkpoint there and nnU-Net starts that fold afresh.
 */
export function foldDir(run: TrainingRun, trainer: string, fold: string, plans: string): string {
  return `${MOUNT_RESULTS}/${run.spec.dataset}/${trainer}__${plans}__${run.spec.configuration}/fold_${fold}`;
}

/**
 * Pod-level hardening of every pod the operator builds, within the Pod Security "restricted"
 * level: no API token (training needs none, and the namespace's default ServiceAccount may
 * hold rights), non-root, the runtime's default seccomp profile. GPUs come through the
 * device plugin, which needs no privilege in the pod, so GPU pods meet "restricted" too.
 */
export function podHardening(): Pick<IPodSpec, "automountServiceAccountToken" | "securityContext"> {
  return {
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
  };
}

/** Container-level hardening: no privilege escalation, no capabilities. */
export function containerHardening(): NonNullable<IContainer["securityContext"]> {
  return {
    allowPrivilegeEscalation: false,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}
