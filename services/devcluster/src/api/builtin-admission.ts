import { addressBlock, randomAddress } from "../address-block.js";
import { forbidden } from "./errors.js";
import type { KubeObject, ResourceDef } from "./resources.js";
import type { Store } from "./store.js";

// The two built-in admission steps the simulated cluster needs on create:
// - Priority: a pod's priorityClassName resolves to spec.priority and preemptionPolicy
//   (an unknown class is refused with the real message; no class means the global default
//   class, if one is marked globalDefault, else 0).
// - Claim binding: a PersistentVolumeClaim is Bound at once, as with a default
//   StorageClass whose provisioner answers immediately. The kubelet maps the claim to a
//   folder under the devcluster data root; no PersistentVolume objects are made.

type Obj = Record<string, unknown>;

export const SYSTEM_PRIORITY_CLASSES: Record<string, number> = {
  "system-cluster-critical": 2000000000,
  "system-node-critical": 2000001000,
};

interface PriorityClass {
  value?: number;
  globalDefault?: boolean;
  preemptionPolicy?: string;
}

function findPriorityClass(store: Store, name: string): PriorityClass | undefined {
  const system = SYSTEM_PRIORITY_CLASSES[name];
  if (system !== undefined) return { value: system, preemptionPolicy: "PreemptLowerPriority" };
  return store.get("priorityclasses.scheduling.k8s.io", undefined, name) as PriorityClass | undefined;
}

function globalDefault(store: Store): (PriorityClass & { name: string }) | undefined {
  for (const e of store.scan("priorityclasses.scheduling.k8s.io")) {
    const pc = e.object as KubeObject & PriorityClass;
    if (pc.globalDefault) return { ...pc, name: e.name };
  }
  return undefined;
}

function admitPodPriority(store: Store, pod: KubeObject): void {
  const spec = (pod["spec"] ?? {}) as Obj;
  const name = spec["priorityClassName"];
  if (typeof name === "string" && name) {
    const pc = findPriorityClass(store, name);
    if (!pc)
      throw forbidden(
        { group: "", resource: "pods" },
        pod.metadata.name,
        `no PriorityClass with name ${name} was found`,
      );
    spec["priority"] = pc.value ?? 0;
    spec["preemptionPolicy"] = pc.preemptionPolicy ?? "PreemptLowerPriority";
    return;
  }
  const def = globalDefault(store);
  if (def) {
    spec["priorityClassName"] = def.name;
    spec["priority"] = def.value ?? 0;
    spec["preemptionPolicy"] = def.preemptionPolicy ?? "PreemptLowerPriority";
  }
}

function bindClaim(pvc: KubeObject): void {
  const spec = (pvc["spec"] ?? {}) as Obj;
  const requests = ((spec["resources"] as Obj | undefined)?.["requests"] ?? {}) as Obj;
  spec["volumeName"] ??= `pvc-${pvc.metadata.uid}`;
  pvc["spec"] = spec;
  pvc["status"] = {
    phase: "Bound",
    accessModes: spec["accessModes"] ?? ["ReadWriteOnce"],
    capacity: { storage: requests["storage"] ?? "1Gi" },
  };
}

/**
 * Service ClusterIPs come from 127.96.0.0/16: loopback addresses, so that the in-process
 * service proxy (workloads/service-proxy.ts) can listen on them as kube-proxy's rules
 * would answer for a real ClusterIP.
 */
export const CLUSTER_IP_PREFIX = "127.96.";

function allocateClusterIp(store: Store, svc: KubeObject): void {
  const spec = (svc["spec"] ??= {}) as Obj;
  if (spec["type"] === "ExternalName") return;
  const asked = spec["clusterIP"];
  if (asked === "None" || (typeof asked === "string" && asked !== "")) {
    spec["clusterIPs"] ??= [asked];
    return;
  }
  const used = new Set<string>();
  for (const e of store.scan("services")) used.add(String((e.object["spec"] as Obj | undefined)?.["clusterIP"] ?? ""));
  // Random rather than sequential: devclusters running side by side (parallel tests) then
  // rarely want the same address for their service proxies.
  const block = addressBlock();
  for (let tries = 0; tries < 100_000; tries++) {
    const ip = randomAddress(CLUSTER_IP_PREFIX, Math.random, block);
    if (ip === undefined || used.has(ip)) continue;
    spec["clusterIP"] = ip;
    spec["clusterIPs"] = [ip];
    return;
  }
  throw forbidden(
    { group: "", resource: "services" },
    svc.metadata.name,
    "failed to allocate a serviceIP: range is full",
  );
}

export function admitOnCreate(store: Store, def: ResourceDef, obj: KubeObject): void {
  if (def.custom || def.group !== "") return;
  if (def.resource === "pods") admitPodPriority(store, obj);
  else if (def.resource === "persistentvolumeclaims") bindClaim(obj);
  else if (def.resource === "services") allocateClusterIp(store, obj);
}
