import { type Clock, sleep, systemClock } from "./clock.js";
import { isGone } from "./errors.js";
import { type KubeObject, type KubePort, type ResourceRef, type WatchEvent, objectKey, resourceName } from "./port.js";
import { type Change, type IndexFn, ObjectStore } from "./store.js";
import { type BackoffConfig, computeBackoff } from "./workqueue.js";

// A list-then-watch cache of one resource, after client-node's cache.ts (ListWatch): list,
// then watch from the list's resourceVersion; a watch that ends is resumed from the last
// resourceVersion seen (bookmarks keep it fresh on quiet resources); 410 Gone means the
// version left the server's window: re-list, and the re-list's diff reports deletions that
// were missed. Failures wait an injected, capped exponential delay. Built on KubePort.watch
// (client-node's Watch), so a fake port drives it in tests.
//
// With `namespaces`, one list-and-watch per namespace feeds one cache (client-go's
// MultiNamespaceCache): a controller limited to some namespaces by Roles cannot list
// cluster-wide. Each namespace keeps its own resourceVersion, reconnects on its own, and its
// re-list replaces only its own objects; the informer has synced once every namespace has.

export interface InformerOptions<T extends KubeObject> {
  port: Pick<KubePort, "list" | "watch">;
  resource: ResourceRef;
  namespace?: string;
  /**
   * Watch these namespaces only, one watch each (not with `namespace`). Empty or absent:
   * `namespace`, or every namespace.
   */
  namespaces?: readonly string[];
  labelSelector?: string;
  fieldSelector?: string;
  indexers?: Record<string, IndexFn<T>>;
  clock?: Clock;
  /** Waits before a reconnect; resolves false when aborted. Default: sleep on `clock`. */
  delay?: (ms: number, signal: AbortSignal) => Promise<boolean>;
  backoff?: BackoffConfig;
  random?: () => number;
  /** Items per list page; 0 lists in one request. */
  pageSize?: number;
  watchTimeoutSeconds?: number;
  onError?: (err: unknown) => void;
  /**
   * Applied to every object before it is cached (client-go's SetTransform): drop what the
   * controller never reads (managedFields, container commands) so a large cache stays small.
   * Must keep metadata.name, namespace and resourceVersion.
   */
  transform?: (object: T) => T;
}

export const INFORMER_BACKOFF: BackoffConfig = { baseMs: 500, maxMs: 30_000, jitter: 0.2 };

/** What ended a list or a watch. */
export type WatchOutcome = { kind: "closed" } | { kind: "failed"; phase: "list" | "watch"; error: unknown };

/**
 * After a watch or list ends: re-list or resume, and how long to wait first. Pure.
 * A watch closed by the server resumes at once; a 410 on a watch re-lists at once; any
 * other failure, and every failed list (410 included, so a confused server cannot spin us),
 * waits a growing delay; a failed list is re-listed, a failed watch resumed.
 */
export function decideReconnect(
  outcome: WatchOutcome,
  failures: number,
  backoff: BackoffConfig,
  random: () => number = Math.random,
): { relist: boolean; delayMs: number; failures: number } {
  if (outcome.kind === "closed") return { relist: false, delayMs: 0, failures: 0 };
  if (outcome.phase === "watch" && isGone(outcome.error)) return { relist: true, delayMs: 0, failures: 0 };
  const next = failures + 1;
  return { relist: outcome.phase === "list", delayMs: computeBackoff(next, backoff, random), failures: next };
}

/** Applies one watch event to the store. Returns the change and the resourceVersion to resume from. Pure over the store. */
export function applyWatchEvent<T extends KubeObject>(
  store: ObjectStore<T>,
  event: WatchEvent<T>,
): { change: Change<T> | undefined; resourceVersion: string | undefined } {
  const resourceVersion = event.object?.metadata?.resourceVersion;
  switch (event.type) {
    case "ADDED":
    case "MODIFIED":
      return { change: store.upsert(event.object), resourceVersion };
    case "DELETED":
      return { change: store.remove(event.object), resourceVersion };
    default:
      return { change: undefined, resourceVersion };
  }
}

/** Maps a change to the work queue keys it concerns. */
export type KeyMapper<T extends KubeObject> = (object: T, change: Change<T>) => string | string[] | undefined;

/** The object's own key. */
export const ownKey: KeyMapper<KubeObject> = (o) => objectKey(o);

/** Keys of the object's owners of `kind` (a Job's TrainingRun), in the object's namespace. */
export function ownerKeys(kind: string): KeyMapper<KubeObject> {
  return (o) =>
    (o.metadata.ownerReferences ?? [])
      .filter((r) => r.kind === kind)
      .map((r) => (o.metadata.namespace ? `${o.metadata.namespace}/${r.name}` : r.name));
}

/** The key `namespace/<value of label>` (a Pod's run via nnunet-operator.io/run). */
export function labelKey(label: string): KeyMapper<KubeObject> {
  return (o) => {
    const value = o.metadata.labels?.[label];
    if (value === undefined) return undefined;
    return o.metadata.namespace ? `${o.metadata.namespace}/${value}` : value;
  };
}

/** One list-and-watch: a namespace, or every namespace (undefined). */
interface Scope {
  readonly namespace: string | undefined;
  rv: string;
  synced: boolean;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly store: ObjectStore<T>;
  private readonly scopes: Scope[];
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private readonly handlers = new Set<(change: Change<T>) => void>();
  private readonly clock: Clock;

  constructor(private readonly options: InformerOptions<T>) {
    const several = options.namespaces ?? [];
    if (several.length > 0 && options.namespace !== undefined)
      throw new Error("Informer: set namespace or namespaces, not both");
    if (several.length > 0 && !options.resource.namespaced)
      throw new Error(`Informer: ${resourceName(options.resource)} is cluster-scoped; it has no namespaces to watch`);
    const namespaces = several.length > 0 ? [...new Set(several)] : [options.namespace];
    this.scopes = namespaces.map((namespace) => ({ namespace, rv: "", synced: false }));
    this.store = new ObjectStore<T>(options.indexers);
    this.clock = options.clock ?? systemClock;
  }

  /** The version the watch resumes from (of the first namespace, when there are several). */
  get resourceVersion(): string {
    return this.scopes[0]?.rv ?? "";
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once the first list is in the cache, false if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(false);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      });
    });
  }

  /** Calls `handler` for every change; returns the unsubscribe function. */
  addHandler(handler: (change: Change<T>) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Enqueues the keys `mapper` derives from every changed object (old and new state on update). */
  onChange(mapper: KeyMapper<T>, queue: { add(key: string): void }): () => void {
    return this.addHandler((change) => {
      const objects = change.type === "updated" ? [change.old, change.object] : [change.object];
      const keys = new Set<string>();
      for (const object of objects) {
        const mapped = mapper(object, change);
        for (const key of typeof mapped === "string" ? [mapped] : (mapped ?? [])) keys.add(key);
      }
      for (const key of keys) queue.add(key);
    });
  }

  /** Lists and watches until `signal` aborts. Never rejects: errors go to onError and are retried. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(this.scopes.map((scope) => this.runScope(scope, signal)));
  }

  private async runScope(scope: Scope, signal: AbortSignal): Promise<void> {
    const backoff = this.options.backoff ?? INFORMER_BACKOFF;
    const delay = this.options.delay ?? ((ms, s) => sleep(this.clock, ms, s));
    let failures = 0;
    let relist = true;
    while (!signal.aborted) {
      let outcome: WatchOutcome;
      let phase: "list" | "watch" = relist ? "list" : "watch";
      try {
        if (relist) {
          await this.list(scope, signal);
          // A list that succeeds proves the server is back: the next failure starts over.
          failures = 0;
        }
        relist = false;
        phase = "watch";
        if (signal.aborted) break;
        await this.options.port.watch<T>(
          this.options.resource,
          {
            namespace: scope.namespace,
            labelSelector: this.options.labelSelector,
            fieldSelector: this.options.fieldSelector,
            resourceVersion: scope.rv,
            timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
          },
          (event) => this.onEvent(scope, event),
          signal,
        );
        outcome = { kind: "closed" };
      } catch (error) {
        outcome = { kind: "failed", phase, error };
        if (!signal.aborted && !(phase === "watch" && isGone(error))) this.options.onError?.(error);
      }
      if (signal.aborted) break;
      const next = decideReconnect(outcome, failures, backoff, this.options.random);
      failures = next.failures;
      relist = next.relist;
      if (next.delayMs > 0 && !(await delay(next.delayMs, signal))) break;
    }
  }

  private async list(scope: Scope, signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = "";
    do {
      const page = await this.options.port.list<T>(this.options.resource, {
        namespace: scope.namespace,
        ...(this.options.labelSelector !== undefined && { labelSelector: this.options.labelSelector }),
        ...(this.options.fieldSelector !== undefined && { fieldSelector: this.options.fieldSelector }),
        ...((this.options.pageSize ?? 500) > 0 && { limit: this.options.pageSize ?? 500 }),
        ...(continueToken !== undefined && { continue: continueToken }),
      });
      const transform = this.options.transform;
      items.push(...(transform ? page.items.map(transform) : page.items));
      resourceVersion = page.resourceVersion;
      continueToken = page.continue;
    } while (continueToken && !signal.aborted);
    if (signal.aborted) return;
    scope.rv = resourceVersion;
    for (const change of this.store.replace(items, scope.namespace)) this.emit(change);
    scope.synced = true;
    if (!this.synced && this.scopes.every((s) => s.synced)) {
      this.synced = true;
      for (const wake of this.syncWaiters.splice(0)) wake();
    }
  }

  private onEvent(scope: Scope, event: WatchEvent<T>): void {
    const transform = this.options.transform;
    const { change, resourceVersion } = applyWatchEvent(
      this.store,
      transform && event.type !== "BOOKMARK" ? { type: event.type, object: transform(event.object) } : event,
    );
    if (resourceVersion) scope.rv = resourceVersion;
    if (change) this.emit(change);
  }

  private emit(change: Change<T>): void {
    for (const handler of this.handlers) {
      try {
        handler(change);
      } catch (err) {
        this.options.onError?.(
          new Error(`handler of ${resourceName(this.options.resource)} informer threw`, { cause: err }),
        );
      }
    }
  }
}
