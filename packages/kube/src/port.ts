import { GROUP, KIND, PLURAL, VERSION } from "@nnunet-operator/api";

// The tiny interface the operator and the early-stop controller code against. Objects are
// plain JSON as the API server sends them (timestamps stay strings); callers validate what
// they read with their own zod schemas. Implementations: client-port.ts over client-node;
// tests use fakes of this interface.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Where a resource lives: enough to build every path without a discovery round trip. */
export interface ResourceRef {
  /** "" for the core group (/api/v1). */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

function ref(group: string, version: string, plural: string, kind: string, namespaced: boolean): ResourceRef {
  return { group, version, plural, kind, namespaced };
}

/** The resources this project touches. */
export const Resources = {
  pods: ref("", "v1", "pods", "Pod", true),
  nodes: ref("", "v1", "nodes", "Node", false),
  namespaces: ref("", "v1", "namespaces", "Namespace", false),
  configMaps: ref("", "v1", "configmaps", "ConfigMap", true),
  secrets: ref("", "v1", "secrets", "Secret", true),
  persistentVolumeClaims: ref("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true),
  coreEvents: ref("", "v1", "events", "Event", true),
  jobs: ref("batch", "v1", "jobs", "Job", true),
  leases: ref("coordination.k8s.io", "v1", "leases", "Lease", true),
  events: ref("events.k8s.io", "v1", "events", "Event", true),
  trainingRuns: ref(GROUP, VERSION, PLURAL, KIND, true),
} as const satisfies Record<string, ResourceRef>;

export function apiVersionOf(resource: ResourceRef): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

/** "pods", "jobs.batch": a short name for logs and metric labels. */
export function resourceName(resource: ResourceRef): string {
  return resource.group ? `${resource.plural}.${resource.group}` : resource.plural;
}

/** The REST path of a collection, an object or a subresource. Pure. */
export function resourcePath(resource: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const parts = [resource.group ? `/apis/${resource.group}/${resource.version}` : `/api/${resource.version}`];
  if (resource.namespaced && namespace) parts.push("namespaces", encodeURIComponent(namespace));
  parts.push(resource.plural);
  if (name !== undefined) parts.push(encodeURIComponent(name));
  if (subresource !== undefined) parts.push(subresource);
  return parts.join("/");
}

export interface ObjectKey {
  /** Omitted for cluster-scoped resources. */
  namespace?: string | undefined;
  name: string;
}

/** merge: RFC 7386; json: RFC 6902 ops; strategic: Kubernetes strategic merge (built-in types only); apply: server-side apply. */
export type PatchType = "merge" | "json" | "strategic" | "apply";

export const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

export interface PatchOptions {
  type: PatchType;
  /** Defaults to the port's field manager; server-side apply requires one. */
  fieldManager?: string;
  /** Server-side apply only: take over fields other managers own. */
  force?: boolean;
}

export interface ListOptions {
  /** Omitted: all namespaces (or a cluster-scoped resource). */
  namespace?: string | undefined;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ListResult<T extends KubeObject = KubeObject> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

export interface CreateOptions {
  fieldManager?: string;
}

export interface DeleteOptions {
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  gracePeriodSeconds?: number;
  /** Delete only if the object still has this uid / resourceVersion. */
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}

export interface WatchOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  resourceVersion?: string | undefined;
  /** Server-side timeout; the port also closes the watch a little after it, client-side. */
  timeoutSeconds?: number;
}

export interface KubePort {
  get<T extends KubeObject = KubeObject>(resource: ResourceRef, key: ObjectKey): Promise<T>;
  list<T extends KubeObject = KubeObject>(resource: ResourceRef, options?: ListOptions): Promise<ListResult<T>>;
  create<T extends KubeObject = KubeObject>(resource: ResourceRef, object: T, options?: CreateOptions): Promise<T>;
  patch<T extends KubeObject = KubeObject>(
    resource: ResourceRef,
    key: ObjectKey,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T>;
  /**
   * Replaces the whole object (PUT, the RBAC verb `update`), guarded by the
   * resourceVersion in `object.metadata`. Optional: for callers whose RBAC grants update
   * but not patch (the chart's leader-election Role grants leases get, create, update).
   */
  replace?<T extends KubeObject = KubeObject>(resource: ResourceRef, object: T, options?: CreateOptions): Promise<T>;
  /** Patches the status subresource. */
  patchStatus<T extends KubeObject = KubeObject>(
    resource: ResourceRef,
    key: ObjectKey,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T>;
  delete(resource: ResourceRef, key: ObjectKey, options?: DeleteOptions): Promise<void>;
  /**
   * Streams events until the server closes the watch (resolves), `signal` aborts (resolves)
   * or it fails (rejects with KubeApiError; 410 Expired when `resourceVersion` is too old).
   * Bookmarks are always requested.
   */
  watch<T extends KubeObject = KubeObject>(
    resource: ResourceRef,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

/** `namespace/name`, or `name` for a cluster-scoped object: the work queue key. */
export function objectKey(object: { metadata?: ObjectMeta | undefined }): string {
  const ns = object.metadata?.namespace;
  const name = object.metadata?.name ?? "";
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): ObjectKey {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
