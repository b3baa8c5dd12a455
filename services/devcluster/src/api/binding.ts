import { badRequest, conflict, notFound } from "./errors.js";
import { nowRfc3339, type Registry, type WriteOptions } from "./registry.js";
import type { KubeObject } from "./resources.js";

// pods/binding, the scheduler's way to place a pod: sets spec.nodeName once (a bound or
// terminating pod answers 409) and the PodScheduled condition, as the real binding REST
// storage does. Pod updates themselves are not meant to move a pod.

const BINDING = { group: "", resource: "pods/binding" };

export async function bindPod(
  registry: Registry,
  namespace: string,
  name: string,
  nodeName: string,
  opts: WriteOptions = {},
): Promise<KubeObject> {
  if (!nodeName) throw badRequest("Binding.target.name: Required value");
  const def = registry.catalog.get("", "v1", "pods")!;
  const existing = registry.stored(def, namespace, name);
  if (!existing) throw notFound(def, name);
  const spec = (existing["spec"] ?? {}) as { nodeName?: string };
  if (existing.metadata.deletionTimestamp)
    throw conflict(BINDING, name, `pod ${name} is being deleted, cannot be assigned to a host`);
  if (spec.nodeName) throw conflict(BINDING, name, `pod ${name} is already assigned to node "${spec.nodeName}"`);
  const next = structuredClone(existing);
  (next["spec"] as { nodeName?: string }).nodeName = nodeName;
  const status = (next["status"] ??= {}) as {
    conditions?: { type: string; status: string; lastProbeTime?: null; lastTransitionTime?: string }[];
  };
  const conditions = (status.conditions ?? []).filter((c) => c.type !== "PodScheduled");
  conditions.push({
    type: "PodScheduled",
    status: "True",
    lastProbeTime: null,
    lastTransitionTime: nowRfc3339(registry.now()),
  });
  status.conditions = conditions;
  const binding = {
    apiVersion: "v1",
    kind: "Binding",
    metadata: { name, namespace },
    target: { apiVersion: "v1", kind: "Node", name: nodeName },
  };
  await registry.admit(
    { operation: "CREATE", def, subresource: "binding", namespace, name, object: binding, oldObject: undefined },
    opts,
    { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
  );
  const current = registry.stored(def, namespace, name);
  if (current?.metadata.resourceVersion !== existing.metadata.resourceVersion)
    throw conflict(
      BINDING,
      name,
      "the object has been modified; please apply your changes to the latest version and try again",
    );
  if (opts.dryRun) return next;
  registry.store.put(def.storage, next);
  return next;
}
