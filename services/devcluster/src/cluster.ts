import { randomBytes } from "node:crypto";
import { createWebhookAdmission, type WebhookOptions } from "./admission/webhooks.js";
import { Deleter, type DeleteOptions, type DeleteResult } from "./api/deletion.js";
import { notFound } from "./api/errors.js";
import { nowRfc3339, Registry, SYSTEM_USER, type UserInfo, type WriteOptions } from "./api/registry.js";
import { ResourceCatalog, type KubeObject, type ResourceDef } from "./api/resources.js";
import { matchesLabels, parseLabelSelector } from "./api/selectors.js";
import { Store, type StoreEvent } from "./api/store.js";
import { admitOnCreate } from "./api/builtin-admission.js";
import { bootstrapPolicy, RbacAuthorizer } from "./auth/rbac.js";
import { CrdController } from "./controllers/crd-controller.js";
import { GarbageCollector } from "./controllers/garbage-collector.js";
import { NamespaceController } from "./controllers/namespace-controller.js";
import { ControllerFailureLog } from "./sim/controller-failures.js";
import { startWorkloadControllers, type WorkloadControllers } from "./workloads/index.js";

// The in-memory cluster without HTTP: store, resource catalogue, registry (REST
// semantics), deletion, and the control-plane loops a bare API server relies on (CRD
// serving, garbage collection, namespace lifecycle). In-process controllers (the
// simulated nodes, scheduler and kubelet of part 2) use `registry`, `deleter` and
// `store.watch`/`store.watchAll` directly; every write goes through the same validation,
// admission and watch fan-out as an HTTP request.

export interface ClusterOptions {
  /** Watch events kept per resource; watching from an older resourceVersion gets 410. */
  historySize?: number;
  now?: () => Date;
  /** How graceful pod deletion ends: "timer" removes the pod after its grace period (no kubelet), "external" leaves it to a kubelet. */
  podTermination?: "timer" | "external";
  webhooks?: WebhookOptions;
}

export const DEFAULT_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

export class Cluster {
  readonly store: Store;
  readonly catalog = new ResourceCatalog();
  readonly crds: CrdController;
  readonly registry: Registry;
  readonly deleter: Deleter;
  readonly gc: GarbageCollector;
  readonly authorizer: RbacAuthorizer;
  /** Deployment, ReplicaSet, StatefulSet, EndpointSlice and disruption controllers (after start). */
  workloads: WorkloadControllers | undefined;
  /** The reporter of every in-process controller queue: logs, keeps and counts their failures. */
  readonly controllerFailures = new ControllerFailureLog();
  private readonly tokens = new Map<string, UserInfo>();
  private readonly stops: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: ClusterOptions = {}) {
    this.store = new Store({ historySize: options.historySize ?? 5000 });
    this.crds = new CrdController(this.store, this.catalog);
    let deleter: Deleter | undefined;
    this.registry = new Registry({
      store: this.store,
      catalog: this.catalog,
      ...(options.now ? { now: options.now } : {}),
      admit: createWebhookAdmission(this.store, options.webhooks),
      customInfo: (def) => this.crds.info(def),
      afterWrite: (def, obj) => deleter?.finishIfReleased(def, obj),
      mutateOnCreate: (def, obj) => admitOnCreate(this.store, def, obj),
    });
    deleter = new Deleter(this.registry, {
      onGracefulPod: (_registry, def, pod, grace) => {
        if ((options.podTermination ?? "timer") !== "timer") return;
        const t = setTimeout(
          () => {
            this.timers.delete(t);
            const current = this.store.get(def.storage, pod.metadata.namespace, pod.metadata.name!);
            if (current && current.metadata.uid === pod.metadata.uid) this.deleter.finishIfReleased(def, current);
          },
          grace * 1000 + 5,
        );
        t.unref();
        this.timers.add(t);
      },
    });
    this.deleter = deleter;
    this.gc = new GarbageCollector(this.registry, this.deleter, this.controllerFailures);
    this.authorizer = new RbacAuthorizer(this.store);
  }

  /** Starts the control loops and creates what a fresh cluster has (namespaces, bootstrap RBAC). */
  async start(): Promise<void> {
    this.stops.push(this.crds.start(this.registry, this.deleter, this.controllerFailures));
    this.stops.push(this.gc.start());
    this.stops.push(new NamespaceController(this.registry, this.deleter, this.controllerFailures).start());
    const workloads = startWorkloadControllers(this);
    this.workloads = workloads;
    this.stops.push(() => workloads.stop());
    const ns = this.resource("", "v1", "namespaces");
    for (const name of DEFAULT_NAMESPACES)
      await this.registry.create(ns, undefined, { metadata: { name } }, { fieldManager: "kube-apiserver" });
    const policy = bootstrapPolicy();
    const cr = this.resource("rbac.authorization.k8s.io", "v1", "clusterroles");
    const crb = this.resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
    for (const o of policy.clusterRoles)
      await this.registry.create(cr, undefined, o, { fieldManager: "kube-apiserver" });
    for (const o of policy.clusterRoleBindings)
      await this.registry.create(crb, undefined, o, { fieldManager: "kube-apiserver" });
  }

  stop(): void {
    for (const s of this.stops.splice(0)) s();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  now(): Date {
    return this.registry.now();
  }

  resource(group: string, version: string, resource: string): ResourceDef {
    const def = this.catalog.get(group, version, resource);
    if (!def) throw notFound({ group, resource }, resource);
    return def;
  }

  /** The resource that serves objects of `apiVersion`/`kind`. */
  resourceFor(apiVersion: string, kind: string): ResourceDef {
    const def = this.catalog.byKind(apiVersion, kind);
    if (!def)
      throw notFound(
        { group: apiVersion.includes("/") ? apiVersion.split("/")[0]! : "", resource: kind.toLowerCase() },
        kind,
      );
    return def;
  }

  /** Objects of a resource (copies), optionally of one namespace and matching a label selector. */
  list(def: ResourceDef, namespace?: string, labelSelector?: string): KubeObject[] {
    const selector = parseLabelSelector(labelSelector);
    const out: KubeObject[] = [];
    for (const e of this.store.scan(def.storage, def.namespaced ? namespace : undefined)) {
      if (matchesLabels(selector, e.labels)) out.push(structuredClone(this.registry.external(def, e.object)));
    }
    return out;
  }

  /**
   * Calls `listener` synchronously with every change to a resource (optionally one
   * namespace), from `sinceRV` if given. Keep listeners cheap: enqueue keys, act later.
   */
  watch(
    def: ResourceDef,
    listener: (event: StoreEvent) => void,
    opts: { namespace?: string; sinceRV?: number } = {},
  ): () => void {
    return this.store.watch(def.storage, def, opts.sinceRV, (e) => {
      if (opts.namespace === undefined || e.object.metadata.namespace === opts.namespace) listener(e);
    });
  }

  /** Creates an object of any served kind, as an in-process client would. */
  create(obj: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    const def = this.resourceFor(obj.apiVersion, obj.kind);
    return this.registry.create(def, obj.metadata.namespace ?? (def.namespaced ? "default" : undefined), obj, {
      user: SYSTEM_USER,
      fieldManager: "devcluster",
      ...opts,
    });
  }

  delete(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<DeleteResult> {
    return this.deleter.delete(def, namespace, name, opts);
  }

  /** Registers a bearer token for a user (RBAC mode). */
  addToken(token: string, user: UserInfo): void {
    this.tokens.set(token, user);
  }

  /** Issues a bearer token that authenticates as the ServiceAccount namespace/name. */
  serviceAccountToken(namespace: string, name: string): string {
    const token = `devcluster-sa-${randomBytes(16).toString("hex")}`;
    this.tokens.set(token, serviceAccountUser(namespace, name));
    return token;
  }

  authenticate(token: string): UserInfo | undefined {
    return this.tokens.get(token);
  }

  timestamp(): string {
    return nowRfc3339(this.now());
  }
}

export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
  };
}

/** A user named on the command line or in a token map: service accounts get their groups. */
export function userFromName(username: string, groups: string[] = []): UserInfo {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (m) {
    const sa = serviceAccountUser(m[1]!, m[2]!);
    return { username, groups: [...new Set([...sa.groups, ...groups])] };
  }
  return { username, groups: [...new Set([...groups, "system:authenticated"])] };
}
