import type { Deleter } from "../api/deletion.js";
import type { Registry, UserInfo } from "../api/registry.js";
import type { KubeObject, OwnerReference, ResourceDef } from "../api/resources.js";
import type { StoreEvent } from "../api/store.js";
import { KeyQueue, type QueueReporter } from "../sim/key-queue.js";

// The garbage collector, in process, reacting to store events like the real one reacts
// to its informers: dependents whose owners are all gone are deleted (background), owners
// deleted in the foreground wait for dependents that block owner deletion, owners deleted
// with orphan propagation release their dependents. Work is queued by key and run
// serially, so a burst of events costs one pass per object. A pass that fails (a
// conflict, a write the API refuses) is retried with backoff and reported to the
// cluster's failure log as `garbage-collector`: an owner whose dependent could not be
// released keeps its finalizer until the release succeeds.

const GC_USER: UserInfo = {
  username: "system:serviceaccount:kube-system:generic-garbage-collector",
  groups: ["system:serviceaccounts", "system:authenticated"],
};

interface Ref {
  storage: string;
  namespace: string | undefined;
  name: string;
}

const refKey = (r: Ref) => `${r.storage}|${r.namespace ?? ""}|${r.name}`;
function parseKey(key: string): Ref {
  const [storage, ns, name] = key.split("|") as [string, string, string];
  return { storage, namespace: ns || undefined, name };
}

export class GarbageCollector {
  private readonly byUid = new Map<string, Ref>();
  private readonly dependents = new Map<string, Set<string>>();
  private readonly queue: KeyQueue;

  constructor(
    private readonly registry: Registry,
    private readonly deleter: Deleter,
    reporter?: QueueReporter,
  ) {
    this.queue = new KeyQueue((item) => this.process(item), {
      name: "garbage-collector",
      ...(reporter ? { reporter } : {}),
    });
  }

  start(): () => void {
    const unsubscribe = this.registry.store.watchAll((e) => this.observe(e));
    return () => {
      this.queue.stop();
      unsubscribe();
    };
  }

  /** Resolves when the queue is empty (tests and benchmarks wait on it). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private observe(e: StoreEvent): void {
    const obj = e.object;
    const uid = obj.metadata.uid;
    if (!uid) return;
    const self: Ref = { storage: e.storage, namespace: obj.metadata.namespace, name: obj.metadata.name! };
    const key = refKey(self);
    for (const ref of e.prev?.metadata.ownerReferences ?? []) this.dependents.get(ref.uid)?.delete(key);
    if (e.type === "DELETED") {
      this.byUid.delete(uid);
      for (const dep of this.dependents.get(uid) ?? []) this.queue.add(`dep:${dep}`);
      for (const ref of obj.metadata.ownerReferences ?? []) {
        const owner = this.byUid.get(ref.uid);
        if (owner) this.queue.add(`owner:${refKey(owner)}`);
      }
      return;
    }
    this.byUid.set(uid, self);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(ref.uid);
      if (!set) this.dependents.set(ref.uid, (set = new Set()));
      set.add(key);
      if (!this.byUid.has(ref.uid)) this.queue.add(`dep:${key}`);
    }
    const fin = obj.metadata.finalizers ?? [];
    if (obj.metadata.deletionTimestamp && (fin.includes("foregroundDeletion") || fin.includes("orphan")))
      this.queue.add(`owner:${key}`);
    if (e.type === "MODIFIED" && obj.metadata.deletionTimestamp) {
      for (const ref of obj.metadata.ownerReferences ?? []) {
        const owner = this.byUid.get(ref.uid);
        if (owner) this.queue.add(`owner:${refKey(owner)}`);
      }
    }
  }

  private process(item: string): Promise<void> {
    return item.startsWith("dep:")
      ? this.processDependent(parseKey(item.slice(4)))
      : this.processOwner(parseKey(item.slice(6)));
  }

  private def(storage: string): ResourceDef | undefined {
    return this.registry.catalog.byStorage(storage)[0];
  }

  private ownerAlive(ref: OwnerReference, namespace: string | undefined): boolean {
    const at = this.byUid.get(ref.uid);
    // An owner must be cluster-scoped or in the dependent's namespace.
    return at !== undefined && (at.namespace === undefined || at.namespace === namespace);
  }

  private async processDependent(ref: Ref): Promise<void> {
    const obj = this.registry.store.get(ref.storage, ref.namespace, ref.name);
    const def = this.def(ref.storage);
    if (!obj || !def) return;
    const refs = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const alive = refs.filter((r) => this.ownerAlive(r, obj.metadata.namespace));
    if (alive.length === refs.length) return;
    if (alive.length > 0) {
      const next = structuredClone(obj) as KubeObject;
      next.metadata.ownerReferences = alive;
      await this.registry.update(def, ref.namespace, ref.name, next, {
        user: GC_USER,
        fieldManager: "generic-garbage-collector",
      });
      return;
    }
    if (obj.metadata.deletionTimestamp) return;
    await this.deleter.delete(def, ref.namespace, ref.name, {
      user: GC_USER,
      propagationPolicy: "Background",
      preconditions: { uid: obj.metadata.uid! },
    });
  }

  private async processOwner(ref: Ref): Promise<void> {
    const owner = this.registry.store.get(ref.storage, ref.namespace, ref.name);
    const def = this.def(ref.storage);
    if (!owner || !def || !owner.metadata.deletionTimestamp) return;
    const uid = owner.metadata.uid!;
    const fin = owner.metadata.finalizers ?? [];
    const deps = [...(this.dependents.get(uid) ?? [])].map(parseKey);
    if (fin.includes("orphan")) {
      for (const d of deps) {
        const dep = this.registry.store.get(d.storage, d.namespace, d.name);
        const depDef = this.def(d.storage);
        if (!dep || !depDef) continue;
        const next = structuredClone(dep) as KubeObject;
        next.metadata.ownerReferences = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        await this.registry.update(depDef, d.namespace, d.name, next, {
          user: GC_USER,
          fieldManager: "generic-garbage-collector",
        });
      }
      await this.removeFinalizer(def, owner, "orphan");
      return;
    }
    if (!fin.includes("foregroundDeletion")) return;
    let blocking = 0;
    for (const d of deps) {
      const dep = this.registry.store.get(d.storage, d.namespace, d.name);
      const depDef = this.def(d.storage);
      if (!dep || !depDef) continue;
      const link = (dep.metadata.ownerReferences ?? []).find((r) => r.uid === uid);
      if (!link) continue;
      if (link.blockOwnerDeletion) blocking++;
      const others = (dep.metadata.ownerReferences ?? []).filter(
        (r) => r.uid !== uid && this.ownerAlive(r, dep.metadata.namespace),
      );
      if (others.length > 0) {
        // Another live owner keeps the dependent; only the link to this owner goes.
        const next = structuredClone(dep) as KubeObject;
        next.metadata.ownerReferences = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        await this.registry.update(depDef, d.namespace, d.name, next, {
          user: GC_USER,
          fieldManager: "generic-garbage-collector",
        });
        if (link.blockOwnerDeletion) blocking--;
        continue;
      }
      if (!dep.metadata.deletionTimestamp) {
        await this.deleter.delete(depDef, d.namespace, d.name, {
          user: GC_USER,
          propagationPolicy: "Foreground",
          preconditions: { uid: dep.metadata.uid! },
        });
      }
    }
    if (blocking === 0) await this.removeFinalizer(def, owner, "foregroundDeletion");
  }

  private async removeFinalizer(def: ResourceDef, owner: KubeObject, finalizer: string): Promise<void> {
    const current = this.registry.store.get(def.storage, owner.metadata.namespace, owner.metadata.name!);
    if (!current || current.metadata.uid !== owner.metadata.uid) return;
    const next = structuredClone(current) as KubeObject;
    next.metadata.finalizers = (current.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    await this.registry.update(def, owner.metadata.namespace, owner.metadata.name!, this.registry.external(def, next), {
      user: GC_USER,
      fieldManager: "generic-garbage-collector",
    });
  }
}
