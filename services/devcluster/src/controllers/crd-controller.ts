import { customResources, type CustomResourceInfo } from "../api/crd.js";
import type { Deleter } from "../api/deletion.js";
import type { Registry, UserInfo } from "../api/registry.js";
import type { KubeObject, ResourceCatalog, ResourceDef } from "../api/resources.js";
import type { Store, StoreEvent } from "../api/store.js";

// Serves what CRDs define: a created or changed CRD (re)registers its custom resources
// synchronously, so a client can use them as soon as the create returns; a CRD being
// deleted has its custom resources deleted, then its cleanup finalizer removed, and its
// resources disappear from discovery when it is gone.

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

  constructor(
    private readonly store: Store,
    private readonly catalog: ResourceCatalog,
  ) {}

  /** Looks up the validator and merge metadata of a custom resource. */
  info(def: ResourceDef): CustomResourceInfo | undefined {
    return def.custom ? this.infos.get(`${def.group}/${def.version}/${def.resource}`) : undefined;
  }

  start(registry: Registry, deleter: Deleter): () => void {
    this.registry = registry;
    this.deleter = deleter;
    return this.store.watchAll((e) => this.observe(e));
  }

  private observe(e: StoreEvent): void {
    if (e.storage !== "customresourcedefinitions.apiextensions.k8s.io") return;
    const name = e.object.metadata.name!;
    this.unregister(name);
    if (e.type === "DELETED") return;
    this.register(name, e.object);
    if (e.object.metadata.deletionTimestamp) setImmediate(() => void this.cleanup(e.object));
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

  private async cleanup(crd: KubeObject): Promise<void> {
    const registry = this.registry!;
    const defs = this.served.get(crd.metadata.name!) ?? [];
    const def = defs[0];
    let remaining = 0;
    if (def) {
      for (const entry of [...this.store.scan(def.storage)]) {
        remaining++;
        if (entry.object.metadata.deletionTimestamp) continue;
        await this.deleter!.delete(def, entry.object.metadata.namespace, entry.object.metadata.name!, {
          user: CRD_USER,
        }).catch(() => undefined);
      }
    }
    if (remaining > 0 && def && this.store.count(def.storage) > 0) {
      setTimeout(() => void this.cleanup(crd), 50).unref();
      return;
    }
    const current = this.store.get("customresourcedefinitions.apiextensions.k8s.io", undefined, crd.metadata.name!);
    if (!current || !(current.metadata.finalizers ?? []).includes(CLEANUP)) return;
    const next = structuredClone(current);
    next.metadata.finalizers = (current.metadata.finalizers ?? []).filter((f) => f !== CLEANUP);
    const crdDef = registry.catalog.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")!;
    await registry
      .update(crdDef, undefined, crd.metadata.name!, next, { user: CRD_USER, fieldManager: "kube-apiserver" })
      .catch(() => undefined);
  }
}
