import { randomUUID } from "node:crypto";
import {
  alreadyExists,
  badRequest,
  forbidden,
  invalid,
  notFound,
  staleConflict,
  uidPreconditionFailed,
  unsupportedMediaType,
  type FieldError,
} from "./errors.js";
import { applyBuiltinDefaults, applyCreateDefaults, generateNameSuffix } from "./defaults.js";
import { crdStatus, defaultCrd, validateCrd, type CustomResourceInfo } from "./crd.js";
import { recordUpdate, serverSideApply } from "./managed-fields.js";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from "./patch.js";
import { mergeSchemaForKind, type MergeSchema } from "./patch-schema.js";
import { apiVersionOf, type KubeObject, type ResourceCatalog, type ResourceDef } from "./resources.js";
import type { Store } from "./store.js";
import { fromCause } from "./crd-causes.js";
import { finalizerWarnings } from "./finalizers.js";
import { builtinDefinitionName, pruneUnknownFields } from "./builtin-schema.js";
import { validateImmutable } from "./immutability.js";
import { changedBeyondMetadata, sameObject } from "./object-diff.js";
import { validateBuiltin, validateMetadata } from "./validation.js";

// REST semantics over the store, shared by the HTTP handlers and in-process controllers:
// create, update, patch (JSON, merge, strategic, apply) with the real server's
// preparation rules (server-owned metadata, status subresource, generation, field
// ownership), validation, admission and optimistic concurrency. Deletion lives in
// deletion.ts.

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export type FieldValidation = "Strict" | "Warn" | "Ignore";

export interface WriteOptions {
  user?: UserInfo;
  dryRun?: boolean;
  fieldManager?: string;
  fieldValidation?: FieldValidation;
  /** Warnings for the Warning response header (unknown fields under Warn). */
  warnings?: string[];
  /**
   * The caller hands the body over and will not mutate the result (the HTTP layer):
   * the registry skips its defensive copies.
   */
  shared?: boolean;
}

export type Operation = "CREATE" | "UPDATE" | "DELETE";

export interface AdmissionAttributes {
  operation: Operation;
  def: ResourceDef;
  subresource: string | undefined;
  namespace: string | undefined;
  name: string;
  object: KubeObject | undefined;
  oldObject: KubeObject | undefined;
  user: UserInfo;
  dryRun: boolean;
  options: Record<string, unknown>;
}

export type Admit = (attrs: AdmissionAttributes) => Promise<void>;
export type PatchType = "json" | "merge" | "strategic" | "apply";

export const SYSTEM_USER: UserInfo = { username: "system:admin", groups: ["system:masters", "system:authenticated"] };
export const nowRfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface RegistryDeps {
  store: Store;
  catalog: ResourceCatalog;
  now?: () => Date;
  admit?: Admit;
  customInfo: (def: ResourceDef) => CustomResourceInfo | undefined;
  /** Called after a write so that deletion can finish objects whose finalizers are gone. */
  afterWrite?: (def: ResourceDef, obj: KubeObject) => void;
  /** Built-in admission that mutates a new object (pod priority, claim binding); may throw an ApiError. */
  mutateOnCreate?: (def: ResourceDef, obj: KubeObject) => void;
}

export class Registry {
  readonly store: Store;
  readonly catalog: ResourceCatalog;
  private readonly deps: RegistryDeps;

  constructor(deps: RegistryDeps) {
    this.deps = deps;
    this.store = deps.store;
    this.catalog = deps.catalog;
  }

  now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  mergeSchema(def: ResourceDef): MergeSchema {
    return this.deps.customInfo(def)?.mergeSchema ?? mergeSchemaForKind(def.kind);
  }

  /** The object in this resource's form (CRD versions share storage). */
  external(def: ResourceDef, stored: KubeObject): KubeObject {
    return def.convert ? def.convert.fromStored(stored) : stored;
  }

  stored(def: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(def.storage, def.namespaced ? namespace : undefined, name);
  }

  get(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const obj = this.stored(def, namespace, name);
    if (!obj) throw notFound(def, name);
    return structuredClone(this.external(def, obj));
  }

  async admit(
    attrs: Omit<AdmissionAttributes, "user" | "dryRun" | "options">,
    opts: WriteOptions,
    options: Obj,
  ): Promise<void> {
    if (!this.deps.admit) return;
    await this.deps.admit({ ...attrs, user: opts.user ?? SYSTEM_USER, dryRun: opts.dryRun ?? false, options });
  }

  private checkTypeMeta(def: ResourceDef, body: Obj): void {
    const apiVersion = body["apiVersion"];
    const kind = body["kind"];
    if (apiVersion !== undefined && apiVersion !== apiVersionOf(def)) {
      throw badRequest(
        `the API version in the data (${String(apiVersion)}) does not match the expected API version (${apiVersionOf(def)})`,
      );
    }
    if (kind !== undefined && kind !== def.kind)
      throw badRequest(`the kind in the data (${String(kind)}) does not match the expected kind (${def.kind})`);
  }

  private checkNamespace(def: ResourceDef, name: string, namespace: string | undefined): void {
    if (!def.namespaced || namespace === undefined) return;
    const ns = this.store.get("namespaces", undefined, namespace);
    if (!ns) throw notFound({ group: "", resource: "namespaces" }, namespace);
    if (ns.metadata.deletionTimestamp) {
      const err = forbidden(
        def,
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
      err.details!.causes = [
        {
          reason: "NamespaceTerminating",
          message: `namespace ${namespace} is being terminated`,
          field: "metadata.namespace",
        },
      ];
      throw err;
    }
  }

  /** Built-in kinds: fields the upstream schema does not name are an error under Strict, a warning under Warn, and dropped. */
  private pruneBuiltin(def: ResourceDef, obj: KubeObject, opts: WriteOptions): void {
    if (def.custom) return;
    const [group, version] = obj.apiVersion.includes("/")
      ? (obj.apiVersion.split("/") as [string, string])
      : ["", obj.apiVersion];
    const definition = builtinDefinitionName({ group, version, kind: obj.kind });
    if (!definition) return;
    const unknown = pruneUnknownFields(definition, obj).map((path) => `unknown field "${path}"`);
    if (unknown.length === 0) return;
    const validation = opts.fieldValidation ?? "Warn";
    if (validation === "Strict")
      throw badRequest(
        `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${unknown.join(", ")}`,
      );
    if (validation === "Warn") opts.warnings?.push(...unknown);
  }

  /** Defaulting and validation shared by create and update; returns the object to store. */
  private validate(def: ResourceDef, obj: KubeObject, old: KubeObject | undefined, opts: WriteOptions): KubeObject {
    let out = obj;
    const errs: FieldError[] = [];
    if (def.resource === "customresourcedefinitions" && !def.custom) {
      defaultCrd(out);
      errs.push(...validateCrd(out));
    }
    this.pruneBuiltin(def, out, opts);
    applyBuiltinDefaults(def, out);
    errs.push(...validateMetadata(def, out));
    opts.warnings?.push(...finalizerWarnings(def, out, old));
    errs.push(...validateBuiltin(def, out));
    if (old) errs.push(...validateImmutable(def, old, out));
    const info = this.deps.customInfo(def);
    if (info?.validator) {
      const validation = opts.fieldValidation ?? "Warn";
      const { object, causes } = info.validator.validate(out, {
        old,
        fieldValidation: validation === "Strict" ? "Strict" : "Ignore",
      });
      const unknown = causes.filter((c) => c.reason === "UnknownField");
      if (unknown.length > 0) {
        throw badRequest(
          `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${unknown.map((c) => `unknown field "${c.field}"`).join(", ")}`,
        );
      }
      if (validation === "Warn") {
        const { causes: strict } = info.validator.validate(out, { old, fieldValidation: "Strict" });
        for (const c of strict) if (c.reason === "UnknownField") opts.warnings?.push(`unknown field "${c.field}"`);
      }
      for (const c of causes) errs.push(fromCause(c, object, info.schema));
      out = object as KubeObject;
    }
    if (errs.length > 0) throw invalid(def.kind, def.group, obj.metadata.name ?? "", errs);
    return out;
  }

  async create(
    def: ResourceDef,
    namespace: string | undefined,
    body: unknown,
    opts: WriteOptions = {},
    prepared = false,
  ): Promise<KubeObject> {
    if (!isObject(body) || (body["metadata"] !== undefined && !isObject(body["metadata"])))
      throw badRequest("Object 'metadata' is missing or invalid in the request body");
    this.checkTypeMeta(def, body);
    // The real server serialises apiVersion, kind and metadata first.
    let obj = {
      apiVersion: apiVersionOf(def),
      kind: def.kind,
      metadata: {},
      ...(opts.shared ? body : structuredClone(body)),
    } as KubeObject;
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    const meta = obj.metadata;
    if (def.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace)
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      const ns = namespace ?? meta.namespace;
      if (ns !== undefined) meta.namespace = ns;
    } else delete meta.namespace;
    if (meta.resourceVersion && !prepared)
      throw badRequest("resourceVersion should not be set on objects to be created");
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${generateNameSuffix()}`;
    if (def.convert) obj = def.convert.toStored(obj);
    const now = this.now();
    const m = obj.metadata;
    for (const k of ["uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"])
      delete m[k];
    m.uid = randomUUID();
    m.creationTimestamp = nowRfc3339(now);
    if (def.generation) m.generation = 1;
    else delete m.generation;
    if (def.statusSubresource && (def.custom || def.resource === "jobs")) delete obj["status"];
    if (!prepared) delete m.managedFields;
    obj = this.validate(def, obj, undefined, opts);
    applyCreateDefaults(def, obj);
    this.deps.mutateOnCreate?.(def, obj);
    if (def.resource === "customresourcedefinitions" && !def.custom) {
      obj["status"] = crdStatus(obj, nowRfc3339(now));
      m.finalizers = [...new Set([...(m.finalizers ?? []), "customresourcecleanup.apiextensions.k8s.io"])];
    }
    this.checkNamespace(def, m.name!, m.namespace);
    if (this.stored(def, m.namespace, m.name!)) throw alreadyExists(def, m.name!);
    if (!prepared)
      recordUpdate(undefined, obj, opts.fieldManager ?? "unknown", this.mergeSchema(def), undefined, nowRfc3339(now));
    await this.admit(
      {
        operation: "CREATE",
        def,
        subresource: undefined,
        namespace: m.namespace,
        name: m.name!,
        object: this.external(def, obj),
        oldObject: undefined,
      },
      opts,
      { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    );
    if (this.stored(def, m.namespace, m.name!)) throw alreadyExists(def, m.name!);
    if (opts.dryRun) return this.external(def, obj);
    this.store.put(def.storage, obj);
    this.deps.afterWrite?.(def, obj);
    return opts.shared ? this.external(def, obj) : structuredClone(this.external(def, obj));
  }

  /** PUT: replaces the object (or its status) with optimistic concurrency. */
  async update(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions = {},
    subresource?: "status",
  ): Promise<KubeObject> {
    if (!isObject(body) || !isObject(body["metadata"]))
      throw badRequest("Object 'metadata' is missing or invalid in the request body");
    this.checkTypeMeta(def, body);
    const incoming = body as KubeObject;
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (def.namespaced && incoming.metadata.namespace && incoming.metadata.namespace !== namespace) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
    return this.guaranteedUpdate(
      def,
      namespace,
      name,
      opts,
      subresource,
      (current) => {
        // A PUT's metadata.uid is a storage precondition, checked before the resourceVersion.
        const uid = incoming.metadata.uid;
        if (uid && uid !== current.metadata.uid)
          throw uidPreconditionFailed(def, namespace, name, uid, current.metadata.uid ?? "");
        return structuredClone(incoming);
      },
      "Update",
    );
  }

  async patch(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions & { force?: boolean } = {},
    subresource?: "status",
  ): Promise<KubeObject> {
    if (type === "strategic" && def.custom) {
      throw unsupportedMediaType([
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
      ]);
    }
    if (type === "apply") {
      if (!opts.fieldManager)
        throw badRequest("PATCH, application/apply-patch+yaml: fieldManager is required for apply requests");
      if (!isObject(patch)) throw badRequest("error decoding YAML: apply patch must be an object");
      this.checkTypeMeta(def, { apiVersion: patch["apiVersion"], kind: patch["kind"] });
      if (!this.stored(def, namespace, name)) {
        if (subresource) throw notFound(def, name);
        const applied = structuredClone(patch) as KubeObject;
        applied.metadata ??= {};
        if (applied.metadata.name !== undefined && applied.metadata.name !== name)
          throw badRequest(
            `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
          );
        applied.metadata.name = name;
        const merged = serverSideApply({
          live: undefined,
          applied,
          manager: opts.fieldManager,
          force: opts.force ?? false,
          schema: this.mergeSchema(def),
          subresource: undefined,
          now: nowRfc3339(this.now()),
        });
        merged.metadata.name = name;
        if (def.namespaced && namespace !== undefined) merged.metadata.namespace = namespace;
        return this.create(def, namespace, merged, opts, true);
      }
    }
    return this.guaranteedUpdate(
      def,
      namespace,
      name,
      opts,
      subresource,
      (current) => {
        switch (type) {
          case "json":
            return applyJsonPatch(current, patch) as KubeObject;
          case "merge":
            return applyMergePatch(current, patch) as KubeObject;
          case "strategic":
            return applyStrategicMergePatch(current, patch, this.mergeSchema(def)) as KubeObject;
          case "apply": {
            const applied = structuredClone(patch) as KubeObject;
            applied.metadata ??= {};
            if (applied.metadata.name !== undefined && applied.metadata.name !== name)
              throw badRequest(
                `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
              );
            return serverSideApply({
              live: current,
              applied,
              manager: opts.fieldManager!,
              force: opts.force ?? false,
              schema: this.mergeSchema(def),
              subresource,
              now: nowRfc3339(this.now()),
            });
          }
        }
      },
      type === "apply" ? "Apply" : "Update",
    );
  }

  /**
   * Read, transform, validate, admit and write, retrying when the object changed while
   * admission webhooks ran (unless the caller named a resourceVersion: then 409).
   */
  private async guaranteedUpdate(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    opts: WriteOptions,
    subresource: "status" | undefined,
    transform: (current: KubeObject) => KubeObject,
    operation: "Update" | "Apply",
  ): Promise<KubeObject> {
    for (let attempt = 0; ; attempt++) {
      const existing = this.stored(def, namespace, name);
      if (!existing) throw notFound(def, name);
      const current = structuredClone(this.external(def, existing));
      let incoming = transform(current);
      if (!isObject(incoming) || !isObject(incoming.metadata))
        throw badRequest("Object 'metadata' is missing or invalid");
      const wanted = incoming.metadata.resourceVersion;
      if (wanted !== undefined && wanted !== "" && wanted !== existing.metadata.resourceVersion)
        throw staleConflict(def, name);
      if (def.convert) incoming = def.convert.toStored(incoming);
      const next = this.prepareUpdate(def, existing, incoming, subresource);
      let validated = this.validate(def, next, existing, opts);
      if (def.resource === "customresourcedefinitions" && !def.custom && subresource !== "status")
        validated["status"] = existing["status"];
      this.checkFinalizersOnDeletion(def, existing, validated);
      if (def.generation && changedBeyondMetadata(existing, validated, def.statusSubresource))
        validated.metadata.generation = (existing.metadata.generation ?? 1) + 1;
      if (operation === "Update")
        recordUpdate(
          existing,
          validated,
          opts.fieldManager ?? "unknown",
          this.mergeSchema(def),
          subresource,
          nowRfc3339(this.now()),
        );
      if (sameObject(existing, validated)) return structuredClone(this.external(def, existing));
      await this.admit(
        {
          operation: "UPDATE",
          def,
          subresource,
          namespace,
          name,
          object: this.external(def, validated),
          oldObject: this.external(def, existing),
        },
        opts,
        { kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1" },
      );
      if (this.stored(def, namespace, name)?.metadata.resourceVersion !== existing.metadata.resourceVersion) {
        if (attempt < 5) continue;
        throw staleConflict(def, name);
      }
      if (opts.dryRun) return this.external(def, validated);
      validated = validated as KubeObject;
      this.store.put(def.storage, validated);
      this.deps.afterWrite?.(def, validated);
      const result = this.external(def, this.stored(def, namespace, name) ?? validated);
      return opts.shared ? result : structuredClone(result);
    }
  }

  /** Server-owned metadata stays; the main resource keeps the status, /status keeps the rest. */
  private prepareUpdate(
    def: ResourceDef,
    existing: KubeObject,
    incoming: KubeObject,
    subresource: "status" | undefined,
  ): KubeObject {
    if (subresource === "status") {
      const next = structuredClone(existing);
      if (incoming["status"] === undefined) delete next["status"];
      else next["status"] = incoming["status"];
      if (incoming.metadata.managedFields !== undefined) next.metadata.managedFields = incoming.metadata.managedFields;
      return next;
    }
    const next = incoming;
    const m = next.metadata;
    const e = existing.metadata;
    for (const k of [
      "uid",
      "creationTimestamp",
      "generation",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "name",
      "namespace",
    ] as const) {
      if (e[k] === undefined) delete m[k];
      else (m as Record<string, unknown>)[k] = e[k];
    }
    if (m.managedFields === undefined && e.managedFields !== undefined) m.managedFields = e.managedFields;
    next.apiVersion = existing.apiVersion;
    next.kind = existing.kind;
    if (def.statusSubresource) {
      if (existing["status"] === undefined) delete next["status"];
      else next["status"] = existing["status"];
    }
    return next;
  }

  private checkFinalizersOnDeletion(def: ResourceDef, existing: KubeObject, next: KubeObject): void {
    if (!existing.metadata.deletionTimestamp) return;
    const before = new Set(existing.metadata.finalizers ?? []);
    const added = (next.metadata.finalizers ?? []).filter((f) => !before.has(f));
    if (added.length > 0) {
      throw invalid(def.kind, def.group, existing.metadata.name!, [
        {
          type: "FieldValueForbidden",
          field: "metadata.finalizers",
          detail: `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
        },
      ]);
    }
  }
}
