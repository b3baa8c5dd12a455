import type { JSONSchemaProps } from "@nnunet-operator/api";

// Merge metadata for lists: which lists are maps keyed by a field (containers by name),
// which are sets of scalars (finalizers), and which are atomic. Strategic merge patch
// and server-side apply both read it. Built-ins use the patchMergeKey / listMapKeys of the
// real Go types we use; custom resources use x-kubernetes-list-type in their schema.

export interface ListMeta {
  kind: "map" | "set" | "atomic";
  keys?: string[];
  /** Values of keys an item may leave out (a port's protocol is TCP): its key is the defaulted one. */
  keyDefaults?: Record<string, unknown>;
}

export interface MergeSchema {
  fields?: Record<string, MergeSchema>;
  /** Schema for the values of a string-keyed map (labels, data, additionalProperties). */
  values?: MergeSchema;
  list?: ListMeta;
  items?: MergeSchema;
  /** A map owned and replaced whole (x-kubernetes-map-type: atomic). */
  atomic?: boolean;
  /** No schema (x-kubernetes-preserve-unknown-fields): every key is a map entry, every list atomic. */
  deduced?: boolean;
}

/** What a node without a schema is, as structured-merge-diff deduces it. */
export const DEDUCED: MergeSchema = { deduced: true };

const map = (keys: string[], items?: MergeSchema, keyDefaults?: Record<string, unknown>): MergeSchema => ({
  list: { kind: "map", keys, ...(keyDefaults ? { keyDefaults } : {}) },
  ...(items ? { items } : {}),
});
/** Maps the upstream types mark x-kubernetes-map-type: atomic (LabelSelector, a pod's nodeSelector). */
const ATOMIC: MergeSchema = { atomic: true };
/** Ports are keyed by number and protocol; the API server defaults the protocol to TCP. */
const TCP = { protocol: "TCP" };
const conditions = map(["type"]);

const container: MergeSchema = {
  fields: {
    env: map(["name"]),
    ports: map(["containerPort", "protocol"], undefined, TCP),
    volumeMounts: map(["mountPath"]),
    volumeDevices: map(["devicePath"]),
    resizePolicy: { list: { kind: "atomic" } },
  },
};

const podSpec: MergeSchema = {
  fields: {
    containers: map(["name"], container),
    initContainers: map(["name"], container),
    ephemeralContainers: map(["name"], container),
    volumes: map(["name"]),
    imagePullSecrets: map(["name"]),
    hostAliases: map(["ip"]),
    schedulingGates: map(["name"]),
    resourceClaims: map(["name"]),
    readinessGates: { list: { kind: "atomic" } },
    tolerations: { list: { kind: "atomic" } },
    nodeSelector: ATOMIC,
  },
};

const metadata: MergeSchema = {
  fields: {
    finalizers: { list: { kind: "set" } },
    ownerReferences: map(["uid"]),
  },
};

const podStatus: MergeSchema = {
  fields: {
    conditions,
    podIPs: map(["ip"]),
    hostIPs: map(["ip"]),
  },
};

export const BUILTIN_MERGE_SCHEMAS: Record<string, MergeSchema> = {
  Pod: { fields: { metadata, spec: podSpec, status: podStatus } },
  Job: {
    fields: {
      metadata,
      spec: { fields: { selector: ATOMIC, template: { fields: { metadata, spec: podSpec } } } },
      status: { fields: { conditions } },
    },
  },
  Deployment: {
    fields: {
      metadata,
      spec: { fields: { selector: ATOMIC, template: { fields: { metadata, spec: podSpec } } } },
      status: { fields: { conditions } },
    },
  },
  ReplicaSet: {
    fields: {
      metadata,
      spec: { fields: { selector: ATOMIC, template: { fields: { metadata, spec: podSpec } } } },
      status: { fields: { conditions } },
    },
  },
  StatefulSet: {
    fields: {
      metadata,
      spec: { fields: { selector: ATOMIC, template: { fields: { metadata, spec: podSpec } } } },
      status: { fields: { conditions } },
    },
  },
  Service: {
    fields: {
      metadata,
      spec: { fields: { ports: map(["port", "protocol"], undefined, TCP) } },
      status: { fields: { conditions } },
    },
  },
  PodDisruptionBudget: {
    fields: { metadata, spec: { fields: { selector: ATOMIC } }, status: { fields: { conditions } } },
  },
  Node: {
    fields: {
      metadata,
      status: { fields: { conditions, addresses: map(["type"]), images: { list: { kind: "atomic" } } } },
    },
  },
  Namespace: { fields: { metadata, status: { fields: { conditions } } } },
  CustomResourceDefinition: { fields: { metadata, status: { fields: { conditions } } } },
};

export function mergeSchemaForKind(kind: string): MergeSchema {
  return BUILTIN_MERGE_SCHEMAS[kind] ?? { fields: { metadata } };
}

/** Reads list types from a CRD's openAPIV3Schema. */
export function mergeSchemaFromOpenApi(schema: JSONSchemaProps | undefined): MergeSchema {
  if (!schema) return {};
  const out: MergeSchema = {};
  if (schema.properties) {
    out.fields = {};
    for (const [k, v] of Object.entries(schema.properties)) out.fields[k] = mergeSchemaFromOpenApi(v);
  }
  if (schema.type === "array") {
    const t = schema["x-kubernetes-list-type"];
    const keys = schema["x-kubernetes-list-map-keys"] ?? [];
    const keyDefaults: Record<string, unknown> = {};
    for (const k of keys) {
      const d = schema.items?.properties?.[k]?.default;
      if (d !== undefined) keyDefaults[k] = d;
    }
    out.list =
      t === "map"
        ? { kind: "map", keys, ...(Object.keys(keyDefaults).length > 0 ? { keyDefaults } : {}) }
        : t === "set"
          ? { kind: "set" }
          : { kind: "atomic" };
    if (schema.items) out.items = mergeSchemaFromOpenApi(schema.items);
  }
  if (schema.additionalProperties && typeof schema.additionalProperties === "object")
    out.values = mergeSchemaFromOpenApi(schema.additionalProperties);
  if (schema["x-kubernetes-map-type"] === "atomic") out.atomic = true;
  if (schema["x-kubernetes-preserve-unknown-fields"] === true && !out.values) out.deduced = true;
  if (out.fields?.["metadata"] === undefined && schema.properties?.["metadata"]) out.fields!["metadata"] = metadata;
  return out;
}

export function withMetadata(s: MergeSchema): MergeSchema {
  return { ...s, fields: { ...s.fields, metadata } };
}

export function child(s: MergeSchema | undefined, key: string): MergeSchema | undefined {
  return s?.fields?.[key] ?? s?.values ?? (s?.deduced ? DEDUCED : undefined);
}
