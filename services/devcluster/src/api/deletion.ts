import { ApiError, badRequest, conflict, notFound } from "./errors.js";
import { nowRfc3339, type Registry, type WriteOptions } from "./registry.js";
import type { KubeObject, ResourceDef } from "./resources.js";
import { matchesFieldValues, matchesLabels, type FieldRequirement, type LabelSelector } from "./selectors.js";

// Deletion as the real server does it: preconditions, propagation policy (Background,
// Foreground with the foregroundDeletion finalizer, Orphan with the orphan finalizer),
// deletionTimestamp while finalizers remain, graceful pod deletion, and removal once the
// last finalizer is gone. The garbage collector (controllers/garbage-collector.ts) does
// the cascading.

export type PropagationPolicy = "Background" | "Foreground" | "Orphan";

export interface DeleteOptions extends WriteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: PropagationPolicy;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface DeleteResult {
  object: KubeObject;
  /** False while finalizers or a grace period keep the object. */
  deleted: boolean;
}

/** What still holds an object being deleted: finalizers (and a namespace's spec.finalizers). */
export function pendingFinalizers(obj: KubeObject): string[] {
  const out = [...(obj.metadata.finalizers ?? [])];
  if (obj.kind === "Namespace" && obj.apiVersion === "v1")
    out.push(...((obj["spec"] as { finalizers?: string[] } | undefined)?.finalizers ?? []));
  return out;
}

export interface DeletionHooks {
  /** Called when a pod enters graceful deletion; the default timer removes it after the grace period. */
  onGracefulPod?: (registry: Registry, def: ResourceDef, pod: KubeObject, graceSeconds: number) => void;
}

const defaultPolicy = (def: ResourceDef): PropagationPolicy =>
  // batch/v1 Jobs still default to orphaning their pods when deleted through the API.
  def.group === "batch" && def.resource === "jobs" ? "Orphan" : "Background";

function podGrace(pod: KubeObject, requested: number | undefined): number {
  const spec = (pod["spec"] ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
  const phase = (pod["status"] as { phase?: string } | undefined)?.phase;
  // Unscheduled and finished pods have no kubelet to wait for.
  if (!spec.nodeName || phase === "Succeeded" || phase === "Failed") return 0;
  return Math.max(0, requested ?? spec.terminationGracePeriodSeconds ?? 30);
}

export class Deleter {
  constructor(
    private readonly registry: Registry,
    private readonly hooks: DeletionHooks = {},
  ) {}

  async delete(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<DeleteResult> {
    const r = this.registry;
    const existing = r.stored(def, namespace, name);
    if (!existing) throw notFound(def, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== existing.metadata.uid) {
      throw conflict(
        def,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${existing.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict(
        def,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`,
      );
    }
    if (
      opts.propagationPolicy !== undefined &&
      !["Background", "Foreground", "Orphan"].includes(opts.propagationPolicy)
    ) {
      throw new ApiError(
        422,
        "Invalid",
        `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${opts.propagationPolicy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
        {
          kind: "DeleteOptions",
          group: "meta.k8s.io",
          causes: [
            {
              reason: "FieldValueNotSupported",
              message: `Unsupported value: "${opts.propagationPolicy}"`,
              field: "propagationPolicy",
            },
          ],
        },
      );
    }
    if (
      opts.gracePeriodSeconds !== undefined &&
      (!Number.isInteger(opts.gracePeriodSeconds) || opts.gracePeriodSeconds < 0)
    ) {
      throw badRequest(`invalid gracePeriodSeconds: ${opts.gracePeriodSeconds}`);
    }
    if (def.resource === "namespaces" && !def.custom && ["default", "kube-system", "kube-public"].includes(name)) {
      throw new ApiError(403, "Forbidden", `namespaces "${name}" is forbidden: this namespace may not be deleted`, {
        name,
        kind: "namespaces",
      });
    }
    await r.admit(
      {
        operation: "DELETE",
        def,
        subresource: undefined,
        namespace,
        name,
        object: undefined,
        oldObject: r.external(def, existing),
      },
      opts,
      { kind: "DeleteOptions", apiVersion: "meta.k8s.io/v1" },
    );
    const current = r.stored(def, namespace, name);
    if (!current) throw notFound(def, name);

    let policy =
      opts.propagationPolicy ??
      (opts.orphanDependents === true ? "Orphan" : opts.orphanDependents === false ? "Background" : defaultPolicy(def));
    const finalizers = new Set(current.metadata.finalizers ?? []);
    // An object already being deleted keeps its policy unless the caller asks for another.
    if (current.metadata.deletionTimestamp && opts.propagationPolicy === undefined) policy = "Background";
    if (policy === "Foreground") {
      finalizers.add("foregroundDeletion");
      finalizers.delete("orphan");
    } else if (policy === "Orphan") {
      finalizers.add("orphan");
      finalizers.delete("foregroundDeletion");
    }
    const isPod = def.resource === "pods" && !def.custom;
    const grace = isPod ? podGrace(current, opts.gracePeriodSeconds) : 0;
    const next = structuredClone(current);
    next.metadata.finalizers = [...finalizers];
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    const holding = pendingFinalizers(next);

    if (
      holding.length === 0 &&
      (grace === 0 || (current.metadata.deletionTimestamp && current.metadata.deletionGracePeriodSeconds === 0))
    ) {
      if (opts.dryRun) return { object: r.external(def, current), deleted: true };
      const gone = r.store.remove(def.storage, current.metadata.namespace, name)!;
      return { object: r.external(def, gone), deleted: true };
    }
    const now = r.now();
    if (!current.metadata.deletionTimestamp) {
      next.metadata.deletionTimestamp = nowRfc3339(new Date(now.getTime() + grace * 1000));
      next.metadata.deletionGracePeriodSeconds = grace;
      if (def.generation) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    } else if (isPod && grace < (current.metadata.deletionGracePeriodSeconds ?? 0)) {
      // A second delete may shorten the grace period, never extend it.
      next.metadata.deletionTimestamp = nowRfc3339(new Date(now.getTime() + grace * 1000));
      next.metadata.deletionGracePeriodSeconds = grace;
    }
    if (def.resource === "namespaces" && !def.custom)
      next["status"] = { ...(next["status"] as object), phase: "Terminating" };
    if (opts.dryRun) return { object: r.external(def, next), deleted: false };
    if (JSON.stringify(next) !== JSON.stringify(current)) r.store.put(def.storage, next);
    if (isPod && grace > 0 && holding.length === 0)
      this.hooks.onGracefulPod?.(r, def, next, next.metadata.deletionGracePeriodSeconds ?? grace);
    if (isPod && grace > 0 && holding.length > 0) this.hooks.onGracefulPod?.(r, def, next, grace);
    return { object: structuredClone(r.external(def, r.stored(def, namespace, name) ?? next)), deleted: false };
  }

  /**
   * Removes an object being deleted once nothing holds it any more: no finalizers and, for
   * a pod, a grace period that has run out or was zero.
   */
  finishIfReleased(def: ResourceDef, obj: KubeObject): boolean {
    if (!obj.metadata.deletionTimestamp || pendingFinalizers(obj).length > 0) return false;
    const isPod = def.resource === "pods" && !def.custom;
    if (
      isPod &&
      (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0 &&
      Date.parse(obj.metadata.deletionTimestamp) > this.registry.now().getTime()
    )
      return false;
    const current = this.registry.store.get(def.storage, obj.metadata.namespace, obj.metadata.name!);
    if (!current || current.metadata.uid !== obj.metadata.uid) return false;
    this.registry.store.remove(def.storage, obj.metadata.namespace, obj.metadata.name!);
    return true;
  }

  async deleteCollection(
    def: ResourceDef,
    namespace: string | undefined,
    labels: LabelSelector,
    fields: FieldRequirement[],
    opts: DeleteOptions,
  ): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    const targets = [...this.registry.store.scan(def.storage, def.namespaced ? namespace : undefined)]
      .filter((e) => matchesLabels(labels, e.labels) && matchesFieldValues(fields, e.fields))
      .map((e) => e.object);
    for (const o of targets) {
      try {
        out.push((await this.delete(def, o.metadata.namespace, o.metadata.name!, opts)).object);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
    return out;
  }
}
