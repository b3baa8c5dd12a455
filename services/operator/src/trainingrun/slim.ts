import type { KubeObject } from "@nnunet-operator/kube";

// What the operator caches of each object: everything its decisions read, nothing else.
// With thousands of Jobs and pods, managedFields and the containers' commands, arguments,
// environment and volumes are most of an object and none of them is read. Pure.

type Obj = Record<string, unknown>;

function slimMetadata(o: KubeObject): KubeObject["metadata"] {
  const { managedFields: _m, ...metadata } = o.metadata as KubeObject["metadata"] & { managedFields?: unknown };
  return metadata;
}

function slimContainers(list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  // name (roles of containers), image (image-pull messages), resources (GPUs), restartPolicy (native sidecars).
  return list.map((c: Obj) =>
    Object.fromEntries(
      Object.entries(c).filter(([k]) => k === "name" || k === "image" || k === "resources" || k === "restartPolicy"),
    ),
  );
}

/** A pod spec with placement and resources only. */
export function slimPodSpec(spec: unknown): unknown {
  if (!spec || typeof spec !== "object") return spec;
  const s = spec as Obj;
  return {
    ...(s.nodeName !== undefined && { nodeName: s.nodeName }),
    ...(s.affinity !== undefined && { affinity: s.affinity }),
    ...(s.priorityClassName !== undefined && { priorityClassName: s.priorityClassName }),
    containers: slimContainers(s.containers) ?? [],
    ...(s.initContainers !== undefined && { initContainers: slimContainers(s.initContainers) }),
  };
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
  return {
    ...o,
    metadata: slimMetadata(o),
    spec: {
      ...(spec.suspend !== undefined && { suspend: spec.suspend }),
      template: {
        ...(template.metadata !== undefined && { metadata: template.metadata }),
        spec: slimPodSpec(template.spec),
      },
    },
  };
}
