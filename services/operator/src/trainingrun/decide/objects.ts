import type { FoldStatus } from "@nnunet-operator/api";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IContainerStateTerminated } from "kubernetes-models/v1/ContainerStateTerminated";
import type { ITaint } from "kubernetes-models/v1/Taint";
import type { IToleration } from "kubernetes-models/v1/Toleration";

// Pure readers of Kubernetes objects as the informers deliver them. The decisions read the
// world only through these, so the rules about what "terminated" or "schedulable" mean live
// in one place.

export const GPU_RESOURCE = "nvidia.com/gpu";

/** Fold phases after training: the fold has its checkpoint, whatever validation still does. */
export const TRAINED_PHASES: ReadonlySet<FoldStatus["phase"]> = new Set([
  "Converged",
  "Completed",
  "Validating",
  "Validated",
]);

/** A container waiting reason that means its image cannot be pulled (start-timeouts.ts says whether for good). */
export function isImagePullError(reason: string | undefined): boolean {
  return reason !== undefined && /ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull/.test(reason);
}
export const ANNOTATION_BATCH_SIZE = "nnunet-operator.io/batch-size";

/** Parses an integer quantity such as `4` or `"4"`; GPUs are never fractional. */
export function intQuantity(value: string | number | undefined): number {
  if (value === undefined) return 0;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? Math.floor(n) : 0;
}

function containerGpus(c: {
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
}): number {
  // Extended resources must have request == limit; a limit alone implies the request.
  const req = c.resources?.requests?.[GPU_RESOURCE] ?? c.resources?.limits?.[GPU_RESOURCE];
  return intQuantity(req as string | number | undefined);
}

/**
 * GPUs a pod holds, with the scheduler's rule for init containers: the larger of the
 * regular containers plus native sidecars and the largest plain init container.
 */
export function podGpuRequest(spec: IPodSpec | undefined): number {
  if (!spec) return 0;
  const sidecars = (spec.initContainers ?? []).filter((c) => c.restartPolicy === "Always");
  const plainInits = (spec.initContainers ?? []).filter((c) => c.restartPolicy !== "Always");
  const running = [...spec.containers, ...sidecars].reduce((n, c) => n + containerGpus(c), 0);
  const init = plainInits.reduce((n, c) => Math.max(n, containerGpus(c)), 0);
  return Math.max(running, init);
}

/** A pod that still holds its resources: neither Succeeded nor Failed. */
export function isPodActive(pod: IPod): boolean {
  const phase = pod.status?.phase;
  return phase !== "Succeeded" && phase !== "Failed";
}

export function podCondition(pod: IPod, type: string): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === type && c.status === "True");
}

export function annotation(
  obj: { metadata?: { annotations?: Record<string, string> } },
  key: string,
): string | undefined {
  return obj.metadata?.annotations?.[key];
}

export function label(obj: { metadata?: { labels?: Record<string, string> } }, key: string): string | undefined {
  return obj.metadata?.labels?.[key];
}

export function intAnnotation(
  obj: { metadata?: { annotations?: Record<string, string> } },
  key: string,
): number | undefined {
  const v = annotation(obj, key);
  if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

/** The terminated state of a named container, current or last. */
export function containerTerminated(pod: IPod, name: string): IContainerStateTerminated | undefined {
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  const s = statuses.find((c) => c.name === name);
  return s?.state?.terminated ?? s?.lastState?.terminated;
}

export function containerWaitingReason(pod: IPod, name: string): { reason: string; message?: string } | undefined {
  const s = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find(
    (c) => c.name === name,
  );
  const w = s?.state?.waiting;
  return w?.reason ? { reason: w.reason, ...(w.message ? { message: w.message } : {}) } : undefined;
}

/** Newest pod first: the one a decision is about when a Job had several. */
export function newestPod(pods: readonly IPod[]): IPod | undefined {
  return [...pods].sort(
    (a, b) =>
      String(b.metadata?.creationTimestamp ?? "").localeCompare(String(a.metadata?.creationTimestamp ?? "")) ||
      String(b.metadata?.name).localeCompare(String(a.metadata?.name)),
  )[0];
}

export function nodeReady(node: INode): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

export function tolerates(tolerations: readonly IToleration[], taint: ITaint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === "Exists") return t.key === undefined || t.key === "" || t.key === taint.key;
    return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
  });
}

/** Taints that keep our pods off a node: NoSchedule and NoExecute ones we do not tolerate. */
export function untoleratedTaints(node: INode, tolerations: readonly IToleration[]): ITaint[] {
  return (node.spec?.taints ?? []).filter((t) => t.effect !== "PreferNoSchedule" && !tolerates(tolerations, t));
}

export function allocatableGpus(node: INode): number {
  return intQuantity(node.status?.allocatable?.[GPU_RESOURCE] as string | number | undefined);
}

/** The last lines of a termination message, for a condition message a human can act on. */
export function lastLines(text: string | undefined, lines = 8, maxChars = 1500): string {
  if (!text) return "";
  const tail = text.trimEnd().split("\n").slice(-lines).join("\n");
  return tail.length > maxChars ? `...${tail.slice(-maxChars)}` : tail;
}
