import { eventFromCore, eventToCore } from "./events.js";

// The resource catalogue: every REST resource the emulator serves, built in or registered
// by a CRD. Discovery, routing, RBAC and the registry all read resource facts from here.

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, lower case: the URL segment. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Has a /status subresource: the main resource ignores status, /status ignores the rest. */
  statusSubresource: boolean;
  /** metadata.generation is maintained (bumped when anything but metadata and status changes). */
  generation: boolean;
  /** Storage key; two resources may share it (core and events.k8s.io events). */
  storage: string;
  /** Served from a CRD (not a built-in). */
  custom: boolean;
  printerColumns?: PrinterColumn[];
  /** Converts between the stored form and this resource's form when storage is shared. */
  convert?: {
    storedApiVersion: string;
    toStored(obj: KubeObject): KubeObject;
    fromStored(obj: KubeObject): KubeObject;
  };
  /** Create-only virtual resources (access reviews) are not stored. */
  virtual?: boolean;
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
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time?: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function def(
  partial: Partial<ResourceDef> & Pick<ResourceDef, "group" | "version" | "resource" | "kind">,
): ResourceDef {
  const group = partial.group;
  return {
    singular: partial.kind.toLowerCase(),
    listKind: `${partial.kind}List`,
    namespaced: true,
    shortNames: [],
    categories: [],
    verbs: ALL_VERBS,
    statusSubresource: false,
    generation: false,
    storage: group ? `${partial.resource}.${group}` : partial.resource,
    custom: false,
    ...partial,
  };
}

export function builtinResources(): ResourceDef[] {
  return [
    def({
      group: "",
      version: "v1",
      resource: "namespaces",
      kind: "Namespace",
      namespaced: false,
      shortNames: ["ns"],
      statusSubresource: true,
      verbs: ALL_VERBS.filter((v) => v !== "deletecollection"),
    }),
    def({
      group: "",
      version: "v1",
      resource: "nodes",
      kind: "Node",
      namespaced: false,
      shortNames: ["no"],
      statusSubresource: true,
    }),
    def({
      group: "",
      version: "v1",
      resource: "pods",
      kind: "Pod",
      shortNames: ["po"],
      categories: ["all"],
      statusSubresource: true,
    }),
    def({ group: "", version: "v1", resource: "events", kind: "Event", shortNames: ["ev"] }),
    def({ group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", shortNames: ["cm"] }),
    def({ group: "", version: "v1", resource: "secrets", kind: "Secret" }),
    def({ group: "", version: "v1", resource: "serviceaccounts", kind: "ServiceAccount", shortNames: ["sa"] }),
    def({
      group: "",
      version: "v1",
      resource: "persistentvolumeclaims",
      kind: "PersistentVolumeClaim",
      shortNames: ["pvc"],
      statusSubresource: true,
    }),
    def({
      group: "scheduling.k8s.io",
      version: "v1",
      resource: "priorityclasses",
      kind: "PriorityClass",
      namespaced: false,
      shortNames: ["pc"],
    }),
    def({
      group: "",
      version: "v1",
      resource: "services",
      kind: "Service",
      shortNames: ["svc"],
      categories: ["all"],
      statusSubresource: true,
    }),
    def({
      group: "apps",
      version: "v1",
      resource: "deployments",
      kind: "Deployment",
      shortNames: ["deploy"],
      categories: ["all"],
      statusSubresource: true,
      generation: true,
    }),
    def({
      group: "apps",
      version: "v1",
      resource: "replicasets",
      kind: "ReplicaSet",
      shortNames: ["rs"],
      categories: ["all"],
      statusSubresource: true,
      generation: true,
    }),
    def({
      group: "apps",
      version: "v1",
      resource: "statefulsets",
      kind: "StatefulSet",
      shortNames: ["sts"],
      categories: ["all"],
      statusSubresource: true,
      generation: true,
    }),
    def({ group: "discovery.k8s.io", version: "v1", resource: "endpointslices", kind: "EndpointSlice" }),
    def({
      group: "policy",
      version: "v1",
      resource: "poddisruptionbudgets",
      kind: "PodDisruptionBudget",
      shortNames: ["pdb"],
      statusSubresource: true,
      generation: true,
    }),
    def({
      group: "networking.k8s.io",
      version: "v1",
      resource: "networkpolicies",
      kind: "NetworkPolicy",
      shortNames: ["netpol"],
      generation: true,
    }),
    def({
      group: "batch",
      version: "v1",
      resource: "jobs",
      kind: "Job",
      categories: ["all"],
      statusSubresource: true,
      generation: true,
    }),
    def({ group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease" }),
    def({
      group: "events.k8s.io",
      version: "v1",
      resource: "events",
      kind: "Event",
      shortNames: ["ev"],
      storage: "events",
      convert: { storedApiVersion: "v1", toStored: eventToCore, fromStored: eventFromCore },
    }),
    def({ group: "rbac.authorization.k8s.io", version: "v1", resource: "roles", kind: "Role" }),
    def({ group: "rbac.authorization.k8s.io", version: "v1", resource: "rolebindings", kind: "RoleBinding" }),
    def({
      group: "rbac.authorization.k8s.io",
      version: "v1",
      resource: "clusterroles",
      kind: "ClusterRole",
      namespaced: false,
    }),
    def({
      group: "rbac.authorization.k8s.io",
      version: "v1",
      resource: "clusterrolebindings",
      kind: "ClusterRoleBinding",
      namespaced: false,
    }),
    def({
      group: "admissionregistration.k8s.io",
      version: "v1",
      resource: "validatingwebhookconfigurations",
      kind: "ValidatingWebhookConfiguration",
      namespaced: false,
      generation: true,
    }),
    def({
      group: "apiextensions.k8s.io",
      version: "v1",
      resource: "customresourcedefinitions",
      kind: "CustomResourceDefinition",
      namespaced: false,
      shortNames: ["crd", "crds"],
      categories: ["api-extensions"],
      statusSubresource: true,
      generation: true,
    }),
    def({
      group: "authorization.k8s.io",
      version: "v1",
      resource: "selfsubjectaccessreviews",
      kind: "SelfSubjectAccessReview",
      namespaced: false,
      verbs: ["create"],
      virtual: true,
    }),
    def({
      group: "authorization.k8s.io",
      version: "v1",
      resource: "subjectaccessreviews",
      kind: "SubjectAccessReview",
      namespaced: false,
      verbs: ["create"],
      virtual: true,
    }),
    def({
      group: "authorization.k8s.io",
      version: "v1",
      resource: "selfsubjectrulesreviews",
      kind: "SelfSubjectRulesReview",
      namespaced: false,
      verbs: ["create"],
      virtual: true,
    }),
    def({
      group: "authentication.k8s.io",
      version: "v1",
      resource: "selfsubjectreviews",
      kind: "SelfSubjectReview",
      namespaced: false,
      verbs: ["create"],
      virtual: true,
    }),
  ];
}

export const apiVersionOf = (d: Pick<ResourceDef, "group" | "version">) =>
  d.group ? `${d.group}/${d.version}` : d.version;

/** Stored objects are served as they are unless this resource's form differs from the stored one. */
export const needsConversion = (d: ResourceDef) =>
  d.convert !== undefined && d.convert.storedApiVersion !== apiVersionOf(d);

/** Looks resources up by group/version/resource and by group/version/kind; CRDs add and remove entries. */
export class ResourceCatalog {
  private readonly byPath = new Map<string, ResourceDef>();
  private readonly byKindMap = new Map<string, ResourceDef>();
  private readonly listeners = new Set<() => void>();

  constructor(defs: readonly ResourceDef[] = builtinResources()) {
    for (const d of defs) this.add(d);
  }

  add(d: ResourceDef): void {
    this.byPath.set(`${d.group}/${d.version}/${d.resource}`, d);
    this.byKindMap.set(`${d.group}/${d.version}/${d.kind}`, d);
    for (const l of this.listeners) l();
  }

  remove(group: string, version: string, resource: string): void {
    const d = this.byPath.get(`${group}/${version}/${resource}`);
    if (!d) return;
    this.byPath.delete(`${group}/${version}/${resource}`);
    this.byKindMap.delete(`${group}/${version}/${d.kind}`);
    for (const l of this.listeners) l();
  }

  get(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.byPath.get(`${group}/${version}/${resource}`);
  }

  byKind(apiVersion: string, kind: string): ResourceDef | undefined {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/", 2) : ["", apiVersion];
    return this.byKindMap.get(`${group}/${version}/${kind}`);
  }

  /** Every resource that stores into the given storage key. */
  byStorage(storage: string): ResourceDef[] {
    return this.all().filter((d) => d.storage === storage);
  }

  all(): ResourceDef[] {
    return [...this.byPath.values()];
  }

  /** Groups in discovery order: core first, built-ins, then CRD groups. */
  groupVersions(): { group: string; version: string }[] {
    const seen = new Map<string, { group: string; version: string }>();
    for (const d of this.byPath.values()) seen.set(`${d.group}/${d.version}`, { group: d.group, version: d.version });
    return [...seen.values()];
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
