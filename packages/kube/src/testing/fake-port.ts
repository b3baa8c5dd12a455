import { KubeApiError } from "../errors.js";
import {
  type CreateOptions,
  type DeleteOptions,
  type KubeObject,
  type KubePort,
  type ListOptions,
  type ListResult,
  type ObjectKey,
  type PatchOptions,
  type ResourceRef,
  type WatchEvent,
  type WatchOptions,
  objectKey,
  resourceName,
} from "../port.js";

// An in-memory KubePort for unit tests of code written against the port: one global
// resourceVersion counter, merge patches with resourceVersion preconditions and deletes
// with uid preconditions (409 Conflict), AlreadyExists/NotFound like the API server,
// watches fed by writes, a request log and injected failures. Not an API server: no
// validation, no label selectors beyond equality, no JSON or strategic patches (415).

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function statusError(code: number, reason: string, message: string, name?: string): KubeApiError {
  return new KubeApiError(message, {
    code,
    reason,
    retryable: code === 409 ? reason !== "AlreadyExists" : code >= 500 || code === 429,
    status: { kind: "Status", code, reason, message, ...(name ? { details: { name } } : {}) },
  });
}

function matchesLabels(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [k, v] = term.split("=");
    return k !== undefined && object.metadata.labels?.[k.trim()] === v?.trim();
  });
}

export interface RecordedRequest {
  verb: string;
  resource: string;
  key?: string;
  body?: unknown;
  options?: unknown;
}

export class FakeKubePort implements KubePort {
  private rv = 0;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly watchers = new Set<{
    resource: string;
    namespace: string | undefined;
    onEvent: (e: WatchEvent) => void;
  }>();
  private readonly failures: Array<{ verb: string; error: Error }> = [];
  readonly requests: RecordedRequest[] = [];

  /** The next request with this verb fails with `error` (FIFO per verb). */
  failNext(verb: string, error: Error): void {
    this.failures.push({ verb, error });
  }

  /** Writes requests made so far (create, update, patch, patchStatus, delete). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.verb !== "get" && r.verb !== "list" && r.verb !== "watch");
  }

  private bucket(resource: ResourceRef): Map<string, KubeObject> {
    const name = resourceName(resource);
    let bucket = this.objects.get(name);
    if (!bucket) this.objects.set(name, (bucket = new Map()));
    return bucket;
  }

  private begin(verb: string, resource: ResourceRef, key?: string, body?: unknown, options?: unknown): void {
    this.requests.push({
      verb,
      resource: resourceName(resource),
      ...(key !== undefined && { key }),
      ...(body !== undefined && { body }),
      ...(options !== undefined && { options }),
    });
    const i = this.failures.findIndex((f) => f.verb === verb);
    if (i >= 0) throw this.failures.splice(i, 1)[0]!.error;
  }

  private notify(resource: ResourceRef, type: WatchEvent["type"], object: KubeObject): void {
    for (const w of this.watchers) {
      if (w.resource === resourceName(resource) && (!w.namespace || w.namespace === object.metadata.namespace))
        w.onEvent({ type, object: structuredClone(object) });
    }
  }

  private keyOf(key: ObjectKey): string {
    return key.namespace ? `${key.namespace}/${key.name}` : key.name;
  }

  async get<T extends KubeObject>(resource: ResourceRef, key: ObjectKey): Promise<T> {
    this.begin("get", resource, this.keyOf(key));
    const found = this.bucket(resource).get(this.keyOf(key));
    if (!found) throw statusError(404, "NotFound", `${resourceName(resource)} "${key.name}" not found`, key.name);
    return structuredClone(found) as T;
  }

  async list<T extends KubeObject>(resource: ResourceRef, options: ListOptions = {}): Promise<ListResult<T>> {
    this.begin("list", resource, undefined, undefined, options);
    const items = [...this.bucket(resource).values()].filter(
      (o) =>
        (!options.namespace || o.metadata.namespace === options.namespace) && matchesLabels(o, options.labelSelector),
    );
    return { items: structuredClone(items) as T[], resourceVersion: String(this.rv) };
  }

  async create<T extends KubeObject>(resource: ResourceRef, object: T, options?: CreateOptions): Promise<T> {
    this.begin("create", resource, objectKey(object), object, options);
    const bucket = this.bucket(resource);
    const stored = structuredClone(object);
    if (!stored.metadata.name && stored.metadata.generateName)
      stored.metadata.name = `${stored.metadata.generateName}${(this.rv + 1).toString(36)}`;
    const key = objectKey(stored);
    if (bucket.has(key))
      throw statusError(
        409,
        "AlreadyExists",
        `${resourceName(resource)} "${stored.metadata.name}" already exists`,
        stored.metadata.name,
      );
    stored.metadata = {
      ...stored.metadata,
      uid: `uid-${this.rv + 1}`,
      resourceVersion: String(++this.rv),
      generation: 1,
      creationTimestamp: new Date().toISOString(),
    };
    bucket.set(key, stored);
    this.notify(resource, "ADDED", stored);
    return structuredClone(stored);
  }

  async replace<T extends KubeObject>(resource: ResourceRef, object: T, options?: CreateOptions): Promise<T> {
    const key = objectKey(object);
    this.begin("update", resource, key, object, options);
    const bucket = this.bucket(resource);
    const current = bucket.get(key);
    if (!current)
      throw statusError(
        404,
        "NotFound",
        `${resourceName(resource)} "${object.metadata.name}" not found`,
        object.metadata.name,
      );
    if (
      object.metadata.resourceVersion !== undefined &&
      object.metadata.resourceVersion !== current.metadata.resourceVersion
    ) {
      throw statusError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${resourceName(resource)} "${object.metadata.name}": the object has been modified`,
        object.metadata.name,
      );
    }
    const next = structuredClone(object) as KubeObject;
    next.metadata = { ...current.metadata, ...next.metadata, resourceVersion: String(++this.rv) };
    if (current.metadata.uid !== undefined) next.metadata.uid = current.metadata.uid;
    bucket.set(key, next);
    this.notify(resource, "MODIFIED", next);
    return structuredClone(next) as T;
  }

  patch<T extends KubeObject>(
    resource: ResourceRef,
    key: ObjectKey,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T> {
    return this.applyPatch("patch", resource, key, patch, options);
  }

  patchStatus<T extends KubeObject>(
    resource: ResourceRef,
    key: ObjectKey,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T> {
    return this.applyPatch("patchStatus", resource, key, patch, options);
  }

  private async applyPatch<T extends KubeObject>(
    verb: string,
    resource: ResourceRef,
    key: ObjectKey,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T> {
    this.begin(verb, resource, this.keyOf(key), patch, options);
    if (options.type !== "merge" && options.type !== "apply")
      throw statusError(415, "UnsupportedMediaType", `FakeKubePort does not implement ${options.type} patches`);
    const bucket = this.bucket(resource);
    const current = bucket.get(this.keyOf(key));
    if (!current) throw statusError(404, "NotFound", `${resourceName(resource)} "${key.name}" not found`, key.name);
    const wanted = (patch as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
    if (wanted !== undefined && wanted !== current.metadata.resourceVersion) {
      throw statusError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${resourceName(resource)} "${key.name}": the object has been modified`,
        key.name,
      );
    }
    // The status subresource writes only status; the main resource ignores status.
    const scoped =
      verb === "patchStatus"
        ? { status: (patch as { status?: unknown })?.status }
        : { ...(patch as object), status: undefined };
    const next = mergePatch(current, JSON.parse(JSON.stringify(scoped))) as KubeObject;
    const specChanged =
      JSON.stringify((next as { spec?: unknown }).spec) !== JSON.stringify((current as { spec?: unknown }).spec);
    next.metadata = {
      ...next.metadata,
      resourceVersion: String(++this.rv),
      generation: (current.metadata.generation ?? 1) + (specChanged ? 1 : 0),
    };
    bucket.set(this.keyOf(key), next);
    this.notify(resource, "MODIFIED", next);
    return structuredClone(next) as T;
  }

  async delete(resource: ResourceRef, key: ObjectKey, options?: DeleteOptions): Promise<void> {
    this.begin("delete", resource, this.keyOf(key), undefined, options);
    const bucket = this.bucket(resource);
    const current = bucket.get(this.keyOf(key));
    if (!current) throw statusError(404, "NotFound", `${resourceName(resource)} "${key.name}" not found`, key.name);
    const uid = options?.preconditions?.uid;
    if (uid !== undefined && uid !== current.metadata.uid)
      throw statusError(
        409,
        "Conflict",
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${current.metadata.uid}`,
        key.name,
      );
    bucket.delete(this.keyOf(key));
    current.metadata = { ...current.metadata, resourceVersion: String(++this.rv) };
    this.notify(resource, "DELETED", current);
  }

  watch<T extends KubeObject>(
    resource: ResourceRef,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.begin("watch", resource, undefined, undefined, options);
    if (signal.aborted) return Promise.resolve();
    const watcher = {
      resource: resourceName(resource),
      namespace: options.namespace,
      onEvent: onEvent as (e: WatchEvent) => void,
    };
    this.watchers.add(watcher);
    return new Promise((resolve) =>
      signal.addEventListener(
        "abort",
        () => {
          this.watchers.delete(watcher);
          resolve();
        },
        { once: true },
      ),
    );
  }
}
