import type { KubeObject } from "@nnunet-operator/kube";
import { GPU_RESOURCE } from "./decide/objects.js";

// What the operator caches of each object: everything its decisions read, nothing else.
// With thousands of Jobs and pods, managedFields and the containers' commands, arguments,
// environment and volumes are most of an object and none of them is read. Pure.

type Obj = Record<string, unknown>;

// Objects are built by adding keys in a fixed order, never by spreading conditional parts
// ({...(x && {x})}): V8 gives each object built that way a map of its own, 260 bytes per
// container instead of about 90 (a heap snapshot at 10,000 runs found them).

function slimMetadata(o: KubeObject): KubeObject["metadata"] {
  const { managedFields: _m, ...metadata } = o.metadata as KubeObject["metadata"] & { managedFields?: unknown };
  return metadata;
}

/** Of a container's requests and limits, the GPUs: admission counts nothing else. */
function gpuResources(resources: unknown): Obj | undefined {
  if (!resources || typeof resources !== "object") return undefined;
  const { requests, limits } = resources as { requests?: Obj; limits?: Obj };
  const out: Obj = {};
  if (requests && GPU_RESOURCE in requests) out.requests = { [GPU_RESOURCE]: requests[GPU_RESOURCE] };
  if (limits && GPU_RESOURCE in limits) out.limits = { [GPU_RESOURCE]: limits[GPU_RESOURCE] };
  return out.requests || out.limits ? out : undefined;
}

function slimContainers(list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  // name (roles of containers), image (image-pull messages), GPUs, restartPolicy (native sidecars).
  return list.map((c: Obj) => {
    const out: Obj = {};
    if (c.name !== undefined) out.name = c.name;
    if (c.image !== undefined) out.image = c.image;
    if (c.restartPolicy !== undefined) out.restartPolicy = c.restartPolicy;
    const resources = gpuResources(c.resources);
    if (resources) out.resources = resources;
    return out;
  });
}

/** A pod spec with placement and GPUs only. */
export function slimPodSpec(spec: unknown): unknown {
  if (!spec || typeof spec !== "object") return spec;
  const s = spec as Obj;
  const out: Obj = {};
  if (s.nodeName !== undefined) out.nodeName = s.nodeName;
  if (s.affinity !== undefined) out.affinity = s.affinity;
  if (s.priorityClassName !== undefined) out.priorityClassName = s.priorityClassName;
  out.containers = slimContainers(s.containers) ?? [];
  if (s.initContainers !== undefined) out.initContainers = slimContainers(s.initContainers);
  return out;
}

/** Drops managedFields from any object. */
export function slimObject(o: KubeObject): KubeObject {
  return { ...o, metadata: slimMetadata(o) };
}

export function slimPod(o: KubeObject): KubeObject {
  return { ...o, metadata: slimMetadata(o), spec: slimPodSpec(o.spec) };
}

export function slimJob(o: KubeObject): KubeObject {
  const spec = (o.spec ?? {}) as Obj;
  const template = (spec.template ?? {}) as Obj;
  const slim: Obj = {};
  if (spec.suspend !== undefined) slim.suspend = spec.suspend;
  // The template's labels and annotations repeat the Job's own, which is what is read.
  slim.template = { spec: slimPodSpec(template.spec) };
  return { ...o, metadata: slimMetadata(o), spec: slim };
}
