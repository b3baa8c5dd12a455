import type { KubeObject } from "../api/resources.js";

// Facts about pods and templates that the workload controllers (Deployment, ReplicaSet,
// StatefulSet, EndpointSlice, disruption) share, pure: readiness and availability as
// kube-controller-manager's podutil computes them, maxSurge/maxUnavailable resolution,
// the pod-template hash, and controller ownership.

type Obj = Record<string, unknown>;
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}

export const TEMPLATE_HASH_LABEL = "pod-template-hash";
export const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";

export const phaseOf = (pod: KubeObject) => (pod["status"] as { phase?: string } | undefined)?.phase;
export const isTerminal = (pod: KubeObject) => phaseOf(pod) === "Succeeded" || phaseOf(pod) === "Failed";
/** Counted by its controller: not finished and not being deleted. */
export const isActive = (pod: KubeObject) => !isTerminal(pod) && !pod.metadata.deletionTimestamp;

export function readyCondition(pod: KubeObject): Condition | undefined {
  return ((pod["status"] as { conditions?: Condition[] } | undefined)?.conditions ?? []).find(
    (c) => c.type === "Ready",
  );
}

export const isReady = (pod: KubeObject) => readyCondition(pod)?.status === "True";

/** Ready for at least minReadySeconds (podutil.IsPodAvailable). */
export function isAvailable(pod: KubeObject, minReadySeconds: number, now: Date): boolean {
  const c = readyCondition(pod);
  if (c?.status !== "True") return false;
  if (minReadySeconds <= 0) return true;
  const since = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : 0;
  return now.getTime() - since >= minReadySeconds * 1000;
}

/** Milliseconds until a Ready pod becomes available, or undefined when nothing is pending. */
export function untilAvailable(pod: KubeObject, minReadySeconds: number, now: Date): number | undefined {
  const c = readyCondition(pod);
  if (c?.status !== "True" || minReadySeconds <= 0) return undefined;
  const left = (c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : 0) + minReadySeconds * 1000 - now.getTime();
  return left > 0 ? left : undefined;
}

/** An int-or-percent of `total`, rounded up (maxSurge) or down (maxUnavailable), as intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.endsWith("%")) {
    const x = (Number(v.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
  return 0;
}

/** maxSurge and maxUnavailable of a rolling update; both zero becomes unavailable 1, as the real controller does. */
export function surgeAndUnavailable(
  strategy: Obj | undefined,
  replicas: number,
): { surge: number; unavailable: number } {
  const ru = (strategy?.["rollingUpdate"] ?? {}) as Obj;
  const surge = scaledValue(ru["maxSurge"] ?? "25%", replicas, true);
  let unavailable = scaledValue(ru["maxUnavailable"] ?? "25%", replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: Math.min(unavailable, replicas) };
}

/** JSON with sorted keys: two templates that differ only in key order are the same template. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v as Obj)
      .sort()
      .filter((k) => (v as Obj)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Obj)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

const SAFE = "bcdfghjklmnpqrstvwxz2456789";

function fnv1a(data: Buffer, seed = 0x811c9dc5): number {
  let h = seed;
  for (const ch of data) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  return h;
}

/** A short, stable name suffix for a template (FNV-1a over its canonical JSON, in rand.SafeEncodeString's alphabet). */
export function templateHash(template: unknown): string {
  const data = Buffer.from(canonical(withoutHashLabel(template)));
  let out = "";
  for (let h = fnv1a(data), i = 0; i < 6; i++, h = Math.floor(h / SAFE.length)) out += SAFE[h % SAFE.length];
  for (let h = fnv1a(data, 0x1000193), i = 0; i < 4; i++, h = Math.floor(h / SAFE.length)) out += SAFE[h % SAFE.length];
  return out;
}

/** A template without the pod-template-hash label the controller adds (EqualIgnoreHash). */
export function withoutHashLabel(template: unknown): unknown {
  const t = structuredClone((template ?? {}) as { metadata?: { labels?: Record<string, string> } });
  if (t.metadata?.labels) {
    delete t.metadata.labels[TEMPLATE_HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

export const sameTemplate = (a: unknown, b: unknown) =>
  canonical(withoutHashLabel(a)) === canonical(withoutHashLabel(b));

/** The uid of the object that controls `obj` (its ownerReference with controller: true) when it is of `kind`. */
export function controllerUid(obj: KubeObject, kind: string): string | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === kind)?.uid;
}

export function ownerRef(owner: KubeObject): {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
} {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** A condition list with one condition set; lastTransitionTime moves only when the status changes. */
export function setCondition(list: readonly Condition[] | undefined, next: Condition, now: string): Condition[] {
  const old = list?.find((c) => c.type === next.type);
  const same = old && old.status === next.status && old.reason === next.reason && old.message === next.message;
  const merged: Condition = same
    ? old
    : {
        ...next,
        lastTransitionTime: old && old.status === next.status ? (old.lastTransitionTime ?? now) : now,
        ...(next.lastUpdateTime !== undefined || "lastUpdateTime" in (old ?? {}) ? { lastUpdateTime: now } : {}),
      };
  return [...(list ?? []).filter((c) => c.type !== next.type), merged];
}
