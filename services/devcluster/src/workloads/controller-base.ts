import type { KubeObject } from "../api/resources.js";
import type { StoreEvent } from "../api/store.js";
import type { Cluster } from "../cluster.js";
import { KeyQueue } from "../sim/key-queue.js";
import { createRecorder, type Recorder } from "../sim/recorder.js";

// What every in-process workload controller shares: a keyed queue of `namespace/name`
// keys, watches that map changes of any storage to keys (an owned object to its owner),
// an event recorder, start/stop/idle. Reconciles re-read the world (level-triggered).

export type KeyMapper = (obj: KubeObject) => Iterable<string>;

export abstract class WorkloadController {
  protected readonly queue: KeyQueue;
  protected readonly recorder: Recorder;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    protected readonly cluster: Cluster,
    component: string,
    private readonly primary: { storage: string; group: string; resource: string },
  ) {
    this.recorder = createRecorder(cluster, component);
    this.queue = new KeyQueue((key) => this.reconcile(key), { name: component, reporter: cluster.controllerFailures });
  }

  protected abstract reconcile(key: string): Promise<void>;

  /** Other storages whose changes map to keys of the primary resource. */
  protected secondary(): { storage: string; group: string; resource: string; keys: KeyMapper }[] {
    return [];
  }

  start(): () => void {
    const s = this.cluster.store;
    const p = this.primary;
    for (const e of s.scan(p.storage)) this.queue.add(`${e.namespace}/${e.name}`);
    this.unsubscribe.push(
      s.watch(p.storage, p, undefined, (e: StoreEvent) =>
        this.queue.add(`${e.object.metadata.namespace}/${e.object.metadata.name}`),
      ),
    );
    for (const w of this.secondary()) {
      this.unsubscribe.push(
        s.watch(w.storage, w, undefined, (e: StoreEvent) => {
          for (const k of w.keys(e.object)) this.queue.add(k);
        }),
      );
    }
    return () => this.stop();
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.queue.stop();
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Keys of the owner of `kind` that controls `obj`. */
  protected static ownerKey(kind: string): KeyMapper {
    return (obj) => {
      const ref = obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === kind);
      return ref ? [`${obj.metadata.namespace}/${ref.name}`] : [];
    };
  }
}

/** Split `namespace/name`. */
export const splitKey = (key: string) => key.split("/") as [string, string];
