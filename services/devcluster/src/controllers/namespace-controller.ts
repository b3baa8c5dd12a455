import type { Deleter } from "../api/deletion.js";
import type { Registry, UserInfo } from "../api/registry.js";
import type { KubeObject, ResourceDef } from "../api/resources.js";
import type { StoreEvent } from "../api/store.js";
import { ignoreExpected, KeyQueue, type QueueReporter } from "../sim/key-queue.js";

// The namespace lifecycle controllers the real control plane runs: a new namespace gets
// its `default` ServiceAccount; a namespace being deleted has its content deleted, and
// once it is empty its `kubernetes` finalizer is removed so that it goes away. Both run
// on keyed queues (`namespace-serviceaccounts`, `namespace-controller`) that report to
// the cluster's failure log; a ServiceAccount that already exists, a namespace being
// deleted, or content deleted meanwhile are expected and skipped.

const NS_USER: UserInfo = {
  username: "system:serviceaccount:kube-system:namespace-controller",
  groups: ["system:serviceaccounts", "system:authenticated"],
};

export class NamespaceController {
  private readonly sweeps: KeyQueue;
  private readonly accounts: KeyQueue;

  constructor(
    private readonly registry: Registry,
    private readonly deleter: Deleter,
    reporter?: QueueReporter,
  ) {
    const r = reporter ? { reporter } : {};
    this.sweeps = new KeyQueue((ns) => this.sweep(ns), { name: "namespace-controller", ...r });
    this.accounts = new KeyQueue((ns) => this.ensureServiceAccount(ns), { name: "namespace-serviceaccounts", ...r });
  }

  start(): () => void {
    const unsubscribe = this.registry.store.watchAll((e) => this.observe(e));
    return () => {
      unsubscribe();
      this.sweeps.stop();
      this.accounts.stop();
    };
  }

  private observe(e: StoreEvent): void {
    if (e.storage === "namespaces") {
      if (e.type === "ADDED") this.accounts.add(e.object.metadata.name!);
      if (e.type !== "DELETED" && e.object.metadata.deletionTimestamp) this.sweeps.add(e.object.metadata.name!);
      return;
    }
    const ns = e.object.metadata.namespace;
    if (e.type === "DELETED" && ns && this.registry.store.get("namespaces", undefined, ns)?.metadata.deletionTimestamp)
      this.sweeps.add(ns);
  }

  private async ensureServiceAccount(namespace: string): Promise<void> {
    const def = this.registry.catalog.get("", "v1", "serviceaccounts")!;
    const ns = this.registry.store.get("namespaces", undefined, namespace);
    if (!ns || ns.metadata.deletionTimestamp || this.registry.stored(def, namespace, "default")) return;
    await this.registry
      .create(
        def,
        namespace,
        { metadata: { name: "default" } },
        { user: NS_USER, fieldManager: "kube-controller-manager" },
      )
      .catch(ignoreExpected);
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
          .catch(ignoreExpected);
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
