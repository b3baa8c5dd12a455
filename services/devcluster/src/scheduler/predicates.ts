import type { ResourceList } from "./resources.js";

// The scheduler's filters as pure checks, each answering why a node is unfit (the
// reason strings are kube-scheduler's, so FailedScheduling events read as on a real
// cluster): NodeUnschedulable, NodeAffinity (nodeSelector and required node affinity),
// TaintToleration (NoSchedule and NoExecute), NodeResourcesFit (including pod count).

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface SchedPod {
  key: string;
  priority: number;
  /** Creation order, for a stable queue among equal priorities. */
  seq: number;
  nodeSelector: Record<string, string>;
  /** ORed terms of ANDed requirements; undefined means no required affinity. */
  affinityTerms: NodeSelectorRequirement[][] | undefined;
  tolerations: Toleration[];
  requests: ResourceList;
}

export interface SchedNode {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  unschedulable: boolean;
  allocatable: ResourceList;
  /** Sum of the requests of pods placed here that have not finished. */
  allocated: ResourceList;
  pods: number;
}

export const REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const REASON_UNSCHEDULABLE = "node(s) were unschedulable";

export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.operator === "Exists") return !t.key || t.key === taint.key;
  return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
}

function matchesRequirement(labels: Record<string, string>, r: NodeSelectorRequirement): boolean {
  const v = labels[r.key];
  switch (r.operator) {
    case "In":
      return v !== undefined && (r.values ?? []).includes(v);
    case "NotIn":
      return v === undefined || !(r.values ?? []).includes(v);
    case "Exists":
      return v !== undefined;
    case "DoesNotExist":
      return v === undefined;
    case "Gt":
      return v !== undefined && Number(v) > Number(r.values?.[0]);
    case "Lt":
      return v !== undefined && Number(v) < Number(r.values?.[0]);
    default:
      return false;
  }
}

export function matchesAffinity(pod: SchedPod, node: SchedNode): boolean {
  for (const [k, v] of Object.entries(pod.nodeSelector)) if (node.labels[k] !== v) return false;
  if (!pod.affinityTerms) return true;
  // An empty term matches nothing, as in the real scheduler.
  return pod.affinityTerms.some((term) => term.length > 0 && term.every((r) => matchesRequirement(node.labels, r)));
}

/** Why `node` cannot take `pod`, or undefined when it can. Several resource shortfalls give several reasons. */
export function unfitReasons(pod: SchedPod, node: SchedNode): string[] | undefined {
  if (
    node.unschedulable &&
    !pod.tolerations.some((t) => tolerates(t, { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }))
  )
    return [REASON_UNSCHEDULABLE];
  if (!matchesAffinity(pod, node)) return [REASON_AFFINITY];
  const untolerated = node.taints.find(
    (taint) =>
      (taint.effect === "NoSchedule" || taint.effect === "NoExecute") &&
      !pod.tolerations.some((t) => tolerates(t, taint)),
  );
  if (untolerated) return [`node(s) had untolerated taint {${untolerated.key}: ${untolerated.value ?? ""}}`];
  const reasons: string[] = [];
  const maxPods = (node.allocatable.get("pods") ?? 110_000) / 1000;
  if (node.pods + 1 > maxPods) reasons.push("Too many pods");
  for (const [resource, want] of pod.requests) {
    const free = (node.allocatable.get(resource) ?? 0) - (node.allocated.get(resource) ?? 0);
    if (want > free) reasons.push(`Insufficient ${resource}`);
  }
  return reasons.length > 0 ? reasons : undefined;
}

/** Fraction of the node left free after placing the pod, averaged over what the pod requests (higher spreads more). */
function score(pod: SchedPod, node: SchedNode): number {
  let sum = 0;
  let n = 0;
  for (const [resource, want] of pod.requests) {
    const cap = node.allocatable.get(resource) ?? 0;
    if (cap <= 0) continue;
    sum += (cap - (node.allocated.get(resource) ?? 0) - want) / cap;
    n++;
  }
  return n === 0 ? 1 : sum / n;
}

export type Decision = { node: string } | { node: undefined; message: string };

/** Picks the best feasible node or explains, as kube-scheduler's FitError does, why none fits. */
export function decidePlacement(pod: SchedPod, nodes: Iterable<SchedNode>): Decision {
  let best: SchedNode | undefined;
  let bestScore = -Infinity;
  let total = 0;
  const histogram = new Map<string, number>();
  for (const node of nodes) {
    total++;
    const reasons = unfitReasons(pod, node);
    if (reasons) {
      for (const r of reasons) histogram.set(r, (histogram.get(r) ?? 0) + 1);
      continue;
    }
    const s = score(pod, node);
    if (s > bestScore || (s === bestScore && best && node.name < best.name)) {
      best = node;
      bestScore = s;
    }
  }
  if (best) return { node: best.name };
  const parts = [...histogram].map(([r, c]) => `${c} ${r}`).sort();
  const why = parts.length > 0 ? ` ${parts.join(", ")}.` : "";
  return {
    node: undefined,
    message: `0/${total} nodes are available:${why} preemption: 0/${total} nodes are available: ${total} Preemption is not helpful for scheduling.`,
  };
}

/** Queue order: higher priority first, then older first. */
export const byPriority = (a: SchedPod, b: SchedPod) => b.priority - a.priority || a.seq - b.seq;
