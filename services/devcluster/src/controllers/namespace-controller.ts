import type { Deleter } from "../api/deletion.js";
import type { Registry, UserInfo } from "../api/registry.js";
import type { KubeObject, ResourceDef } from "../api/resources.js";
import type { StoreEvent } from "../api/store.js";

// The namespace lifecycle controllers the real control plane runs: a new namespace gets
// its `default` ServiceAccount; a namespace being deleted has its content deleted, and
// once it is empty its `kubernetes` finalizer is removed so that it goes away.

const NS_USER: UserInfo = {
  username: "system:serviceaccount:kube-system:namespace-controller",
  groups: ["system:serviceaccounts", "system:authenticated"],
};

export class NamespaceController {
  private readonly pending = new Set<string>();
  private scheduled = false;

  constructor(
    private readonly registry: Registry,
    private readonly deleter: Deleter,
  ) {}

  start(): () => void {
    return this.registry.store.watchAll((e) => this.observe(e));
  }

  private observe(e: StoreEvent): void {
    if (e.storage === "namespaces") {
      if (e.type === "ADDED") this.ensureServiceAccount(e.object.metadata.name!);
      if (e.type !== "DELETED" && e.object.metadata.deletionTimestamp) this.schedule(e.object.metadata.name!);
      return;
    }
    const ns = e.object.metadata.namespace;
    if (e.type === "DELETED" && ns && this.registry.store.get("namespaces", undefined, ns)?.metadata.deletionTimestamp)
      this.schedule(ns);
  }

  private ensureServiceAccount(namespace: string): void {
    setImmediate(() => {
      const def = this.registry.catalog.get("", "v1", "serviceaccounts")!;
      if (this.registry.stored(def, namespace, "default")) return;
      this.registry
        .create(
          def,
          namespace,
          { metadata: { name: "default" } },
          { user: NS_USER, fieldManager: "kube-controller-manager" },
        )
        .catch(() => undefined);
    });
  }

  private schedule(ns: string): void {
    this.pending.add(ns);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const names = [...this.pending];
      this.pending.clear();
      for (const n of names) void this.sweep(n);
    });
  }

  private namespacedStorages(): Map<string, ResourceDef> {
    const out = new Map<string, ResourceDef>();
    for (const d of this.registry.catalog.all())
      if (d.namespaced && !d.virtual && !out.has(d.storage)) out.set(d.storage, d);
    return out;
  }

  private async sweep(ns: string): Promise<void> {
    const namespace = this.registry.store.get("namespaces", undefined, ns);
    if (!namespace?.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const [storage, def] of this.namespacedStorages()) {
      for (const entry of [...this.registry.store.scan(storage, ns)]) {
        remaining++;
        if (entry.object.metadata.deletionTimestamp) continue;
        await this.deleter
          .delete(def, ns, entry.object.metadata.name!, { user: NS_USER, propagationPolicy: "Background" })
          .catch(() => undefined);
      }
    }
    if (remaining > 0) return;
    const current = this.registry.store.get("namespaces", undefined, ns);
    if (!current?.metadata.deletionTimestamp) return;
    const next = structuredClone(current) as KubeObject;
    (next["spec"] as { finalizers?: string[] }).finalizers = [];
    const def = this.registry.catalog.get("", "v1", "namespaces")!;
    this.registry.store.put("namespaces", next);
    this.deleter.finishIfReleased(def, next);
  }
}
