import { type KubeObject, objectKey } from "./port.js";

// The informer's cache: objects by `namespace/name` plus secondary indexes, and the diff a
// re-list produces. Pure data structure, no I/O, tested on its own.

/** Values an object is indexed under (none: not indexed). */
export type IndexFn<T extends KubeObject = KubeObject> = (object: T) => string[];

export const INDEX_NAMESPACE = "namespace";
export const INDEX_OWNER_UID = "ownerUid";
export const INDEX_LABEL = "label";

export const DEFAULT_INDEXERS: Record<string, IndexFn> = {
  [INDEX_NAMESPACE]: (o) => [o.metadata.namespace ?? ""],
  [INDEX_OWNER_UID]: (o) => (o.metadata.ownerReferences ?? []).map((r) => r.uid),
  /** `key=value` for every label, so `byIndex("label", "a=b")` is an equality selector. */
  [INDEX_LABEL]: (o) => Object.entries(o.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`),
};

export type Change<T extends KubeObject = KubeObject> =
  | { type: "added"; object: T }
  | { type: "updated"; object: T; old: T }
  | { type: "deleted"; object: T };

function sameVersion(a: KubeObject, b: KubeObject): boolean {
  const rv = a.metadata.resourceVersion;
  return rv !== undefined && rv === b.metadata.resourceVersion;
}

export class ObjectStore<T extends KubeObject = KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();

  constructor(private readonly indexers: Record<string, IndexFn<T>> = DEFAULT_INDEXERS as Record<string, IndexFn<T>>) {
    for (const name of Object.keys(indexers)) this.indexes.set(name, new Map());
  }

  get size(): number {
    return this.objects.size;
  }

  /** By `namespace/name` (or `name` for cluster-scoped objects). */
  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.objects.values()];
    return this.byIndex(INDEX_NAMESPACE, namespace);
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }

  byIndex(index: string, value: string): T[] {
    const keys = this.indexes.get(index)?.get(value);
    if (!keys) return [];
    return [...keys].map((k) => this.objects.get(k)).filter((o): o is T => o !== undefined);
  }

  /** Objects with the label `label=value`. */
  byLabel(label: string, value: string): T[] {
    return this.byIndex(INDEX_LABEL, `${label}=${value}`);
  }

  /** Objects that name `uid` among their owner references. */
  byOwner(uid: string): T[] {
    return this.byIndex(INDEX_OWNER_UID, uid);
  }

  /** Adds or replaces; no change (undefined) when the resourceVersion is the one cached. */
  upsert(object: T): Change<T> | undefined {
    const key = objectKey(object);
    const old = this.objects.get(key);
    if (old && sameVersion(old, object)) return undefined;
    if (old) this.unindex(key, old);
    this.objects.set(key, object);
    this.index(key, object);
    return old ? { type: "updated", object, old } : { type: "added", object };
  }

  remove(object: T): Change<T> | undefined {
    const key = objectKey(object);
    const old = this.objects.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.objects.delete(key);
    return { type: "deleted", object };
  }

  /**
   * Makes the cache equal to a fresh list and returns the changes, deletions first. With
   * `namespace`, the list is of that namespace only: objects of other namespaces stay (a
   * multi-namespace informer lists each of its namespaces on its own).
   */
  replace(items: T[], namespace?: string): Change<T>[] {
    const fresh = new Set(items.map((o) => objectKey(o)));
    const changes: Change<T>[] = [];
    for (const [key, old] of [...this.objects]) {
      if (namespace !== undefined && old.metadata.namespace !== namespace) continue;
      if (!fresh.has(key)) {
        const change = this.remove(old);
        if (change) changes.push(change);
      }
    }
    for (const item of items) {
      const change = this.upsert(item);
      if (change) changes.push(change);
    }
    return changes;
  }

  private index(key: string, object: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indexes.get(name)!;
      for (const value of fn(object)) {
        let keys = index.get(value);
        if (!keys) index.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  private unindex(key: string, object: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indexes.get(name)!;
      for (const value of fn(object)) {
        const keys = index.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(value);
      }
    }
  }
}
