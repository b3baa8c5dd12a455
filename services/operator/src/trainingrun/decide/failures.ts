import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPod } from "kubernetes-models/v1/Pod";
import { NNUNET_CONTAINER } from "../manifests/common.js";
import { containerTerminated, lastLines, podCondition } from "./objects.js";

// Why a training pod ended badly, and whether trying again can help. The order of the
// checks matters: a disrupted pod's container also shows a signal exit, and an nnU-Net
// that died of CUDA out-of-memory also exits with 1 like any other Python error.

export type FailureKind = "Retryable" | "CudaOutOfMemory" | "Terminal";

export interface Failure {
  readonly kind: FailureKind;
  /** CamelCase, such as NodeLost, Evicted, OOMKilled, CudaOutOfMemory, TrainerError. */
  readonly reason: string;
  readonly message: string;
  /** When it happened, for the restart backoff. */
  readonly at: Date;
  /**
   * The failure was only known after waiting already (a stall is reported after several
   * median epoch times), and its pod may still hold a GPU: restart without the backoff.
   */
  readonly waitedOut?: boolean;
}

/** What PyTorch prints when the GPU runs out of memory, in its old and new wording. */
export const CUDA_OOM = /CUDA out of memory|OutOfMemoryError|CUDA error: out of memory/i;

interface Check {
  readonly name: string;
  readonly match: (pod: IPod) => Omit<Failure, "at"> | undefined;
}

const CHECKS: readonly Check[] = [
  {
    name: "plans-not-derived",
    match: (pod) => {
      const t = containerTerminated(pod, "derive-plans");
      return t && t.exitCode !== 0
        ? {
            kind: "Terminal",
            reason: "TrainerError",
            message: `the derived plans file could not be written: ${lastLines(t.message, 4)}`,
          }
        : undefined;
    },
  },
  {
    name: "disrupted",
    match: (pod) => {
      if (!podCondition(pod, "DisruptionTarget")) return undefined;
      const c = pod.status?.conditions?.find((x) => x.type === "DisruptionTarget");
      return {
        kind: "Retryable",
        reason: "NodeLost",
        message: `the pod was disrupted (${c?.reason ?? "DisruptionTarget"}${c?.message ? `: ${c.message}` : ""})`,
      };
    },
  },
  {
    name: "evicted",
    match: (pod) =>
      pod.status?.reason === "Evicted" || pod.status?.reason === "Preempting"
        ? {
            kind: "Retryable",
            reason: "Evicted",
            message: `the pod was evicted${pod.status?.message ? `: ${pod.status.message}` : ""}`,
          }
        : undefined,
  },
  {
    name: "oom-killed",
    match: (pod) =>
      containerTerminated(pod, NNUNET_CONTAINER)?.reason === "OOMKilled"
        ? {
            kind: "Retryable",
            reason: "OOMKilled",
            message: "nnU-Net was killed for exceeding its memory limit (raise spec.resources.memory if this repeats)",
          }
        : undefined,
  },
  {
    name: "cuda-out-of-memory",
    match: (pod) => {
      const t = containerTerminated(pod, NNUNET_CONTAINER);
      return t && t.exitCode !== 0 && CUDA_OOM.test(t.message ?? "")
        ? {
            kind: "CudaOutOfMemory",
            reason: "CudaOutOfMemory",
            message: `CUDA out of memory: ${lastLines(t.message, 3, 600)}`,
          }
        : undefined;
    },
  },
  {
    name: "signalled",
    match: (pod) => {
      const t = containerTerminated(pod, NNUNET_CONTAINER);
      return t && t.exitCode > 128
        ? { kind: "Retryable", reason: "Killed", message: `nnU-Net was killed by signal ${t.exitCode - 128}` }
        : undefined;
    },
  },
  {
    name: "never-ran",
    match: (pod) =>
      containerTerminated(pod, NNUNET_CONTAINER) === undefined
        ? {
            kind: "Retryable",
            reason: "NodeLost",
            message: `the pod failed before nnU-Net ran${pod.status?.reason ? ` (${pod.status.reason})` : ""}`,
          }
        : undefined,
  },
  {
    name: "trainer-error",
    match: (pod) => {
      const t = containerTerminated(pod, NNUNET_CONTAINER)!;
      return {
        kind: "Terminal",
        reason: "TrainerError",
        message: `nnU-Net exited with code ${t.exitCode}:\n${lastLines(t.message) || "(no log output)"}`,
      };
    },
  },
];

/** Classifies the end of a failed attempt: the first check that matches names it. */
export function classifyFailure(job: IJob, pod: IPod | undefined, now: Date): Failure {
  const failedCondition = job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  const fallbackAt = failedCondition?.lastTransitionTime ? new Date(failedCondition.lastTransitionTime) : now;
  if (!pod)
    return {
      kind: "Retryable",
      reason: "NodeLost",
      message: "the fold's pod is gone (node lost or pod deleted)",
      at: fallbackAt,
    };
  const finished = containerTerminated(pod, NNUNET_CONTAINER)?.finishedAt;
  const at = finished ? new Date(finished) : fallbackAt;
  for (const check of CHECKS) {
    const hit = check.match(pod);
    if (hit) return { ...hit, at };
  }
  /* c8 ignore next: trainer-error always matches */
  return { kind: "Terminal", reason: "TrainerError", message: "unknown failure", at };
}
