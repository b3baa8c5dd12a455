import { bindPod } from "../api/binding.js";
import type { KubeObject } from "../api/resources.js";
import type { StoreEvent } from "../api/store.js";
import type { Cluster } from "../cluster.js";
import { reportUnexpected } from "../sim/key-queue.js";
import { createRecorder, type Recorder } from "../sim/recorder.js";
import {
  byPriority,
  decidePlacement,
  type NodeSelectorRequirement,
  type SchedNode,
  type SchedPod,
  type Taint,
  type Toleration,
} from "./predicates.js";
import { podRequests, resourceList, type ResourceList } from "./resources.js";

// The default-scheduler, in process: a cache of nodes and of what each node's unfinished
// pods request (updated from store watches, and at once when a pod is bound so that one
// pass never over-commits), a priority-ordered queue of pending pods, and passes that
// run once per event-loop turn. Unschedulable pods get PodScheduled=False/Unschedulable
// and a FailedScheduling event whenever the reason changes, and are retried when a node
// changes or a pod releases resources. A failed write is reported to the cluster's failure
// log as `default-scheduler` unless it is expected (the pod deleted or bound meanwhile);
// a pod whose binding failed otherwise is forgotten and retried with backoff.

interface Placed {
  node: string;
  uid: string;
  requests: ResourceList;
}

interface PodSpecLike {
  nodeName?: string;
  schedulerName?: string;
  priority?: number;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        nodeSelectorTerms?: { matchExpressions?: NodeSelectorRequirement[] }[];
      };
    };
  };
  containers?: [];
  initContainers?: [];
}

const podKey = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
const isFinished = (o: KubeObject) => {
  const phase = (o["status"] as { phase?: string } | undefined)?.phase;
  return phase === "Succeeded" || phase === "Failed";
};

export interface SchedulerStats {
  bound: number;
  unschedulableWrites: number;
}

export class Scheduler {
  private readonly nodes = new Map<string, SchedNode>();
  private readonly placed = new Map<string, Placed>();
  private readonly pending = new Map<string, SchedPod & { uid: string; lastMessage?: string }>();
  private readonly fresh = new Set<string>();
  private seq = 0;
  private dirty = false;
  private scheduled = false;
  private stopped = false;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly recorder: Recorder;
  private inflight = 0;
  private readonly bindFailures = new Map<string, number>();
  private readonly idleWaiters: (() => void)[] = [];
  readonly stats: SchedulerStats = { bound: 0, unschedulableWrites: 0 };

  constructor(private readonly cluster: Cluster) {
    this.recorder = createRecorder(cluster, "default-scheduler");
  }

  start(): () => void {
    const store = this.cluster.store;
    for (const e of store.scan("nodes")) this.onNode({ type: "ADDED", object: e.object } as StoreEvent);
    for (const e of store.scan("pods")) this.onPod({ type: "ADDED", object: e.object } as StoreEvent);
    this.unsubscribe.push(store.watch("nodes", { group: "", resource: "nodes" }, undefined, (e) => this.onNode(e)));
    this.unsubscribe.push(store.watch("pods", { group: "", resource: "pods" }, undefined, (e) => this.onPod(e)));
    this.kick();
    return () => this.stop();
  }

  stop(): void {
    this.stopped = true;
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** Resolves once no pass is queued and no binding is in flight (tests, benchmark). */
  idle(): Promise<void> {
    if (!this.scheduled && this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Allocated and allocatable per node, for checks that nothing is over-committed. */
  snapshot(): SchedNode[] {
    return [...this.nodes.values()];
  }

  private onNode(e: StoreEvent): void {
    const o = e.object;
    const name = o.metadata.name!;
    if (e.type === "DELETED") {
      this.nodes.delete(name);
      return;
    }
    const spec = (o["spec"] ?? {}) as { taints?: Taint[]; unschedulable?: boolean };
    const prev = this.nodes.get(name);
    this.nodes.set(name, {
      name,
      labels: o.metadata.labels ?? {},
      taints: spec.taints ?? [],
      unschedulable: spec.unschedulable === true,
      allocatable: resourceList((o["status"] as { allocatable?: unknown } | undefined)?.allocatable),
      allocated: prev?.allocated ?? new Map(),
      pods: prev?.pods ?? 0,
    });
    this.dirty = true;
    this.kick();
  }

  private onPod(e: StoreEvent): void {
    const o = e.object;
    const key = podKey(o);
    const spec = (o["spec"] ?? {}) as PodSpecLike;
    if (e.type === "DELETED" || isFinished(o) || (spec.nodeName && this.placed.get(key)?.uid !== o.metadata.uid))
      this.release(key, o.metadata.uid!);
    if (e.type === "DELETED" || isFinished(o)) {
      this.pending.delete(key);
      return;
    }
    if (spec.nodeName) {
      this.pending.delete(key);
      if (!this.placed.has(key)) this.assume(key, o.metadata.uid!, spec.nodeName, podRequests(spec));
      return;
    }
    if ((spec.schedulerName ?? "default-scheduler") !== "default-scheduler" || o.metadata.deletionTimestamp) return;
    const existing = this.pending.get(key);
    if (existing?.uid === o.metadata.uid) return;
    const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    this.pending.set(key, {
      key,
      uid: o.metadata.uid!,
      priority: spec.priority ?? 0,
      seq: this.seq++,
      nodeSelector: spec.nodeSelector ?? {},
      affinityTerms: terms ? terms.map((t) => t.matchExpressions ?? []) : undefined,
      tolerations: spec.tolerations ?? [],
      requests: podRequests(spec),
    });
    this.fresh.add(key);
    this.kick();
  }

  private assume(key: string, uid: string, node: string, requests: ResourceList): void {
    this.placed.set(key, { node, uid, requests });
    const n = this.nodes.get(node);
    if (!n) return;
    for (const [r, v] of requests) n.allocated.set(r, (n.allocated.get(r) ?? 0) + v);
    n.pods++;
  }

  private release(key: string, uid: string): void {
    const p = this.placed.get(key);
    if (!p || p.uid !== uid) return;
    this.placed.delete(key);
    const n = this.nodes.get(p.node);
    if (n) {
      for (const [r, v] of p.requests) n.allocated.set(r, (n.allocated.get(r) ?? 0) - v);
      n.pods--;
    }
    this.dirty = true;
    this.kick();
  }

  private kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pass();
      this.settle();
    });
  }

  private settle(): void {
    if (this.scheduled || this.inflight > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private pass(): void {
    if (this.stopped) return;
    const retryAll = this.dirty;
    this.dirty = false;
    const queue = [...this.pending.values()].filter((p) => retryAll || this.fresh.has(p.key)).sort(byPriority);
    this.fresh.clear();
    for (const pod of queue) {
      const decision = decidePlacement(pod, this.nodes.values());
      if (decision.node === undefined) {
        if (pod.lastMessage !== decision.message) {
          pod.lastMessage = decision.message;
          this.markUnschedulable(pod.key, decision.message);
        }
        continue;
      }
      this.pending.delete(pod.key);
      this.assume(pod.key, pod.uid, decision.node, pod.requests);
      this.bind(pod.key, pod.uid, decision.node);
    }
  }

  private bind(key: string, uid: string, node: string): void {
    const [ns, name] = key.split("/") as [string, string];
    this.inflight++;
    bindPod(this.cluster.registry, ns, name, node, { fieldManager: "default-scheduler" })
      .then(
        (pod) => {
          this.stats.bound++;
          this.bindFailures.delete(key);
          this.recorder.event(pod, "Normal", "Scheduled", `Successfully assigned ${key} to ${node}`);
        },
        (error) => {
          const current = this.cluster.store.get("pods", ns, name);
          const same = current?.metadata.uid === uid;
          const unbound = same && !(current["spec"] as PodSpecLike).nodeName;
          // Deleted, replaced or still unbound: forget the assumption (the watch has the
          // truth); a pod still unbound is tried again later.
          if (!same || unbound) this.release(key, uid);
          const attempt = (this.bindFailures.get(key) ?? 0) + 1;
          reportUnexpected(this.cluster.controllerFailures, "default-scheduler", key, error, attempt);
          if (!unbound) {
            this.bindFailures.delete(key);
            return;
          }
          this.bindFailures.set(key, attempt);
          this.retryLater(key, uid, Math.min(5000, 50 * 2 ** attempt));
        },
      )
      .finally(() => {
        this.inflight--;
        this.settle();
      });
  }

  /** Queues a pod whose binding failed again, if it is still there and unbound. */
  private retryLater(key: string, uid: string, ms: number): void {
    const [ns, name] = key.split("/") as [string, string];
    setTimeout(() => {
      const pod = this.cluster.store.get("pods", ns, name);
      if (this.stopped || pod?.metadata.uid !== uid || (pod["spec"] as PodSpecLike).nodeName) return;
      this.pending.delete(key);
      this.onPod({ type: "MODIFIED", object: pod } as StoreEvent);
    }, ms).unref();
  }

  private markUnschedulable(key: string, message: string): void {
    const [ns, name] = key.split("/") as [string, string];
    const def = this.cluster.resource("", "v1", "pods");
    const pod = this.cluster.store.get("pods", ns, name);
    if (!pod) return;
    this.stats.unschedulableWrites++;
    const conditions = ((pod["status"] as { conditions?: { type: string }[] } | undefined)?.conditions ?? []).filter(
      (c) => c.type !== "PodScheduled",
    );
    conditions.push({
      type: "PodScheduled",
      status: "False",
      reason: "Unschedulable",
      message,
      lastProbeTime: null,
      lastTransitionTime: this.cluster.timestamp(),
    } as { type: string });
    this.inflight++;
    this.cluster.registry
      .patch(def, ns, name, "merge", { status: { conditions } }, { fieldManager: "default-scheduler" }, "status")
      .then((p) => this.recorder.event(p, "Warning", "FailedScheduling", message))
      .catch((error) => reportUnexpected(this.cluster.controllerFailures, "default-scheduler", key, error))
      .finally(() => {
        this.inflight--;
        this.settle();
      });
  }
}
