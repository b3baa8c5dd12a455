import { customResources, type CustomResourceInfo } from "../api/crd.js";
import type { Deleter } from "../api/deletion.js";
import type { Registry, UserInfo } from "../api/registry.js";
import type { KubeObject, ResourceCatalog, ResourceDef } from "../api/resources.js";
import type { Store, StoreEvent } from "../api/store.js";
import { ignoreExpected, KeyQueue, type QueueReporter } from "../sim/key-queue.js";

// Serves what CRDs define: a created or changed CRD (re)registers its custom resources
// synchronously, so a client can use them as soon as the create returns; a CRD being
// deleted has its custom resources deleted, then its cleanup finalizer removed, and its
// resources disappear from discovery when it is gone. The cleanup runs on a keyed queue
// (`crd-cleanup`, by CRD name) that reports to the cluster's failure log; custom
// resources deleted meanwhile and a CRD changed meanwhile are expected and retried.

const CLEANUP = "customresourcecleanup.apiextensions.k8s.io";
const CRD_USER: UserInfo = {
  username: "system:apiextensions-controller",
  groups: ["system:masters", "system:authenticated"],
};

export class CrdController {
  private readonly infos = new Map<string, CustomResourceInfo>();
  private readonly served = new Map<string, ResourceDef[]>();
  private registry: Registry | undefined;
  private deleter: Deleter | undefined;
  private queue: KeyQueue | undefined;

  constructor(
    private readonly store: Store,
    private readonly catalog: ResourceCatalog,
  ) {}

  /** Looks up the validator and merge metadata of a custom resource. */
  info(def: ResourceDef): CustomResourceInfo | undefined {
    return def.custom ? this.infos.get(`${def.group}/${def.version}/${def.resource}`) : undefined;
  }

  start(registry: Registry, deleter: Deleter, reporter?: QueueReporter): () => void {
    this.registry = registry;
    this.deleter = deleter;
    const queue = new KeyQueue((name) => this.cleanup(name), {
      name: "crd-cleanup",
      ...(reporter ? { reporter } : {}),
    });
    this.queue = queue;
    const unsubscribe = this.store.watchAll((e) => this.observe(e));
    return () => {
      unsubscribe();
      queue.stop();
    };
  }

  private observe(e: StoreEvent): void {
    if (e.storage !== "customresourcedefinitions.apiextensions.k8s.io") return;
    const name = e.object.metadata.name!;
    this.unregister(name);
    if (e.type === "DELETED") return;
    this.register(name, e.object);
    if (e.object.metadata.deletionTimestamp) this.queue?.add(name);
  }

  private register(name: string, crd: KubeObject): void {
    const infos = customResources(crd);
    for (const info of infos) {
      this.infos.set(`${info.def.group}/${info.def.version}/${info.def.resource}`, info);
      this.catalog.add(info.def);
    }
    this.served.set(
      name,
      infos.map((i) => i.def),
    );
  }

  private unregister(name: string): void {
    for (const d of this.served.get(name) ?? []) {
      this.catalog.remove(d.group, d.version, d.resource);
      this.infos.delete(`${d.group}/${d.version}/${d.resource}`);
    }
    this.served.delete(name);
  }

  private async cleanup(name: string): Promise<void> {
    const registry = this.registry!;
    const crd = this.store.get("customresourcedefinitions.apiextensions.k8s.io", undefined, name);
    if (!crd?.metadata.deletionTimestamp) return;
    const def = this.served.get(name)?.[0];
    if (def) {
      for (const entry of [...this.store.scan(def.storage)]) {
        if (entry.object.metadata.deletionTimestamp) continue;
        await this.deleter!.delete(def, entry.object.metadata.namespace, entry.object.metadata.name!, {
          user: CRD_USER,
        }).catch(ignoreExpected);
      }
      // Resources with finalizers of their own go later: look again until none is left.
      if (this.store.count(def.storage) > 0) {
        this.queue!.addAfter(name, 50);
        return;
      }
    }
    if (!(crd.metadata.finalizers ?? []).includes(CLEANUP)) return;
    const next = structuredClone(crd);
    next.metadata.finalizers = (crd.metadata.finalizers ?? []).filter((f) => f !== CLEANUP);
    const crdDef = registry.catalog.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")!;
    // A conflict (the CRD changed meanwhile) fails the pass and is retried from a fresh read.
    await registry.update(crdDef, undefined, name, next, { user: CRD_USER, fieldManager: "kube-apiserver" });
  }
}
