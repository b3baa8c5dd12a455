import { expired, requestTooLarge, type GroupResource } from "./errors.js";
import type { KubeObject } from "./resources.js";
import { fieldValues } from "./selectors.js";

// The storage layer: objects per storage key and namespace/name, one cluster-wide
// resourceVersion counter (like etcd's revision), a bounded event history per storage key
// for watches, and synchronous fan-out to subscribers. It knows nothing about REST
// semantics; the registry enforces those. An entry keeps the object's JSON, its labels
// and its field-selector values; the parsed object is held only weakly and re-parsed on
// demand, which keeps 50,000 pods well under 500 MB. Objects handed out must not be
// mutated: every write stores a fresh object.

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  readonly type: EventType;
  readonly storage: string;
  readonly rv: number;
  readonly object: KubeObject;
  /** The object before this event (MODIFIED and DELETED). */
  readonly prev: KubeObject | undefined;
  /** JSON of `object`, computed once and shared by every watcher. */
  readonly json: string;
}

export class Entry {
  private ref: WeakRef<KubeObject>;
  constructor(
    readonly json: string,
    object: KubeObject,
    readonly namespace: string | undefined,
    readonly name: string,
    readonly resourceVersion: string,
    readonly labels: Readonly<Record<string, string>> | undefined,
    readonly fields: Readonly<Record<string, string>>,
  ) {
    this.ref = new WeakRef(object);
  }

  get object(): KubeObject {
    let o = this.ref.deref();
    if (!o) {
      o = JSON.parse(this.json) as KubeObject;
      this.ref = new WeakRef(o);
    }
    return o;
  }
}

export type Listener = (event: StoreEvent) => void;

/** A kept event: JSON only, objects parsed again when a resuming watch replays it. */
class RecordedEvent implements StoreEvent {
  private objectRef: WeakRef<KubeObject>;
  private prevRef: WeakRef<KubeObject> | undefined;
  constructor(
    readonly type: EventType,
    readonly storage: string,
    readonly rv: number,
    readonly json: string,
    object: KubeObject,
    prev: KubeObject | undefined,
    private readonly prevJson: string | undefined,
  ) {
    this.objectRef = new WeakRef(object);
    this.prevRef = prev ? new WeakRef(prev) : undefined;
  }

  get object(): KubeObject {
    let o = this.objectRef.deref();
    if (!o) {
      o = JSON.parse(this.json) as KubeObject;
      this.objectRef = new WeakRef(o);
    }
    return o;
  }

  get prev(): KubeObject | undefined {
    if (this.prevJson === undefined) return undefined;
    let o = this.prevRef?.deref();
    if (!o) {
      o = JSON.parse(this.prevJson) as KubeObject;
      this.prevRef = new WeakRef(o);
    }
    return o;
  }
}

class Bucket {
  readonly items = new Map<string, Entry>();
  private ring: (StoreEvent | undefined)[];
  private next = 0;
  private size = 0;
  /** Events with rv greater than this are all kept in the ring. */
  compactedRV: number;
  readonly listeners = new Set<Listener>();
  private sortedKeys: string[] | undefined;

  constructor(capacity: number, startRV: number) {
    this.ring = new Array<StoreEvent | undefined>(capacity);
    this.compactedRV = startRV;
  }

  record(event: StoreEvent): void {
    const capacity = this.ring.length;
    if (this.size === capacity) {
      const evicted = this.ring[this.next];
      if (evicted) this.compactedRV = evicted.rv;
    } else this.size++;
    this.ring[this.next] = event;
    this.next = (this.next + 1) % capacity;
  }

  /** Events after `rv`, oldest first; undefined when some of them are no longer kept. */
  since(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedRV) return undefined;
    const out: StoreEvent[] = [];
    const capacity = this.ring.length;
    for (let i = 0; i < this.size; i++) {
      const e = this.ring[(this.next - this.size + i + capacity) % capacity]!;
      if (e.rv > rv) out.push(e);
    }
    return out;
  }

  keys(): string[] {
    this.sortedKeys ??= [...this.items.keys()].sort();
    return this.sortedKeys;
  }

  invalidateKeys(): void {
    this.sortedKeys = undefined;
  }
}

export interface StoreOptions {
  /** Watch events kept per storage key; older resourceVersions get 410 Gone. */
  historySize?: number;
}

/**
 * etcd's default --max-request-bytes (1.5 MiB). Built-ins are stored there as protobuf and
 * custom resources as JSON; the stored JSON is measured for both (built-ins reach it sooner).
 */
export const MAX_STORED_BYTES = 1.5 * 1024 * 1024;

export const objectKey = (namespace: string | undefined, name: string) => `${namespace ?? ""}/${name}`;

export class Store {
  private rv = 1;
  private readonly buckets = new Map<string, Bucket>();
  private readonly allListeners = new Set<Listener>();
  private readonly historySize: number;

  constructor(options: StoreOptions = {}) {
    this.historySize = Math.max(1, options.historySize ?? 5000);
  }

  currentRV(): number {
    return this.rv;
  }

  private bucket(storage: string): Bucket {
    let b = this.buckets.get(storage);
    if (!b) {
      // Nothing has been evicted from a new bucket, so any resourceVersion can resume.
      b = new Bucket(this.historySize, 0);
      this.buckets.set(storage, b);
    }
    return b;
  }

  get(storage: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.buckets.get(storage)?.items.get(objectKey(namespace, name))?.object;
  }

  entry(storage: string, namespace: string | undefined, name: string): Entry | undefined {
    return this.buckets.get(storage)?.items.get(objectKey(namespace, name));
  }

  /** Entries in key order (namespace/name), optionally of one namespace, starting after `after`. */
  *scan(storage: string, namespace?: string, after?: string): Generator<Entry> {
    const b = this.buckets.get(storage);
    if (!b) return;
    const keys = b.keys();
    const prefix = namespace === undefined ? "" : `${namespace}/`;
    let lo = 0;
    const start = after !== undefined && after > prefix ? after : prefix;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid]! < start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < keys.length; i++) {
      const key = keys[i]!;
      if (after !== undefined && key <= after) continue;
      if (prefix && !key.startsWith(prefix)) break;
      const e = b.items.get(key);
      if (e) yield e;
    }
  }

  count(storage: string): number {
    return this.buckets.get(storage)?.items.size ?? 0;
  }

  /** Stores `object` (its metadata.resourceVersion is set here) and notifies watchers; refuses what etcd would. */
  put(storage: string, object: KubeObject): KubeObject {
    const b = this.bucket(storage);
    const key = objectKey(object.metadata.namespace, object.metadata.name!);
    const prevEntry = b.items.get(key);
    const prev = prevEntry?.object;
    const previousRV = object.metadata.resourceVersion;
    const rv = ++this.rv;
    object.metadata.resourceVersion = String(rv);
    const json = JSON.stringify(object);
    if (json.length > MAX_STORED_BYTES / 4 && Buffer.byteLength(json) > MAX_STORED_BYTES) {
      this.rv--;
      if (previousRV === undefined) delete object.metadata.resourceVersion;
      else object.metadata.resourceVersion = previousRV;
      throw requestTooLarge();
    }
    if (!prev) b.invalidateKeys();
    const m = object.metadata;
    b.items.set(key, new Entry(json, object, m.namespace, m.name!, String(rv), m.labels, fieldValues(storage, object)));
    this.emit(b, { type: prev ? "MODIFIED" : "ADDED", storage, rv, object, prev, json }, prevEntry?.json);
    return object;
  }

  /** Removes the object; the DELETED event carries it with the deletion's resourceVersion. */
  remove(storage: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const b = this.buckets.get(storage);
    const key = objectKey(namespace, name);
    const prevEntry = b?.items.get(key);
    const prev = prevEntry?.object;
    if (!b || !prev) return undefined;
    b.items.delete(key);
    b.invalidateKeys();
    const rv = ++this.rv;
    const object: KubeObject = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(rv) } };
    const json = JSON.stringify(object);
    this.emit(b, { type: "DELETED", storage, rv, object, prev, json }, prevEntry?.json);
    return object;
  }

  private emit(b: Bucket, event: StoreEvent, prevJson: string | undefined): void {
    b.record(new RecordedEvent(event.type, event.storage, event.rv, event.json, event.object, event.prev, prevJson));
    // One failing listener must neither break the write nor starve the other listeners.
    for (const l of b.listeners) this.notify(l, event);
    for (const l of this.allListeners) this.notify(l, event);
  }

  private notify(listener: Listener, event: StoreEvent): void {
    try {
      listener(event);
    } catch (error) {
      process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: "DEVCLUSTER_LISTENER" });
    }
  }

  /**
   * Subscribes to one storage key. With `sinceRV`, first replays the kept events after it
   * (410 Expired when they are no longer kept). Returns the unsubscribe function.
   */
  watch(storage: string, _gr: GroupResource, sinceRV: number | undefined, listener: Listener): () => void {
    const b = this.bucket(storage);
    if (sinceRV !== undefined) {
      const events = b.since(sinceRV);
      if (!events) throw expired(`too old resource version: ${sinceRV} (${b.compactedRV + 1})`);
      for (const e of events) listener(e);
    }
    b.listeners.add(listener);
    return () => b.listeners.delete(listener);
  }

  /** Checks whether events after `rv` are still kept for `storage`. */
  isExpired(storage: string, rv: number): boolean {
    return this.bucket(storage).since(rv) === undefined;
  }

  /** Subscribes to every storage key (for in-process controllers such as the garbage collector). */
  watchAll(listener: Listener): () => void {
    this.allListeners.add(listener);
    return () => this.allListeners.delete(listener);
  }

  storages(): string[] {
    return [...this.buckets.keys()];
  }
}
