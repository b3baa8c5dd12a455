import type { DevCluster, KubeObject } from "@nnunet-operator/devcluster";

// Watches pods and Jobs inside the devcluster for the whole run of the full-system test and
// checks, on every pod event, the invariants that must hold at every instant: pods only on
// L40S nodes, never more GPUs in use on a node (or in the cluster) than it has.

type Obj = KubeObject & { spec?: any; status?: any };

export interface PodRecord {
  name: string;
  labels: Record<string, string>;
  gpus: number;
  node: string | undefined;
  createdAt: number;
  /** The last version seen (its status has start and finish times). */
  last: Obj;
}

const GPU = "nvidia.com/gpu";
const quantity = (c: any): number => Number(c?.resources?.limits?.[GPU] ?? c?.resources?.requests?.[GPU] ?? 0);

/** A pod's GPU request as the scheduler counts it: the main containers, or the largest init container. */
export function podGpus(pod: Obj): number {
  const main = (pod.spec?.containers ?? []).reduce((s: number, c: any) => s + quantity(c), 0);
  const init = Math.max(0, ...(pod.spec?.initContainers ?? []).map(quantity));
  return Math.max(main, init);
}

export class ClusterObserver {
  readonly pods = new Map<string, PodRecord>();
  readonly jobs = new Map<string, Obj>();
  readonly violations: string[] = [];
  maxGpusInUse = 0;
  private readonly active = new Map<string, { node: string; gpus: number }>();
  private readonly stops: (() => void)[] = [];
  private readonly capacity = new Map<string, number>();
  private readonly products = new Map<string, string>();

  constructor(dc: DevCluster) {
    const nodes = dc.cluster.resourceFor("v1", "Node");
    for (const n of dc.cluster.store.scan(nodes.storage, undefined)) {
      const node = n.object as Obj;
      this.capacity.set(node.metadata.name!, Number(node.status?.allocatable?.[GPU] ?? 0));
      this.products.set(node.metadata.name!, node.metadata.labels?.["nvidia.com/gpu.product"] ?? "");
    }
    this.stops.push(dc.cluster.watch(dc.cluster.resourceFor("v1", "Pod"), (e) => this.onPod(e.type, e.object as Obj)));
    this.stops.push(
      dc.cluster.watch(
        dc.cluster.resourceFor("batch/v1", "Job"),
        (e) => void this.jobs.set(`${e.object.metadata.namespace}/${e.object.metadata.name}`, e.object as Obj),
      ),
    );
  }

  get totalGpus(): number {
    return [...this.capacity.values()].reduce((a, b) => a + b, 0);
  }

  private onPod(type: string, pod: Obj): void {
    const uid = pod.metadata.uid!;
    const record = this.pods.get(uid) ?? {
      name: pod.metadata.name!,
      labels: pod.metadata.labels ?? {},
      gpus: podGpus(pod),
      node: undefined,
      createdAt: Date.now(),
      last: pod,
    };
    record.last = pod;
    record.node = pod.spec?.nodeName ?? record.node;
    this.pods.set(uid, record);
    const finished = type === "DELETED" || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
    if (record.node && record.gpus > 0) {
      if (this.products.get(record.node) !== "NVIDIA-L40S")
        this.violations.push(
          `pod ${record.name} with ${record.gpus} GPU(s) on node ${record.node} (${this.products.get(record.node) || "no GPU"})`,
        );
      if (finished) this.active.delete(uid);
      else this.active.set(uid, { node: record.node, gpus: record.gpus });
      const perNode = new Map<string, number>();
      for (const a of this.active.values()) perNode.set(a.node, (perNode.get(a.node) ?? 0) + a.gpus);
      for (const [node, used] of perNode) {
        if (used > (this.capacity.get(node) ?? 0))
          this.violations.push(`node ${node}: ${used} GPUs in use of ${this.capacity.get(node)}`);
      }
      const total = [...perNode.values()].reduce((a, b) => a + b, 0);
      this.maxGpusInUse = Math.max(this.maxGpusInUse, total);
      if (total > this.totalGpus) this.violations.push(`${total} GPUs in use of ${this.totalGpus}`);
    }
  }

  /** Pods of one run (by the operator's run label) and role. */
  podsOf(run: string, role?: string): PodRecord[] {
    return [...this.pods.values()].filter(
      (p) =>
        p.labels["nnunet-operator.io/run"] === run &&
        (role === undefined || p.labels["nnunet-operator.io/role"] === role),
    );
  }

  stop(): void {
    for (const s of this.stops) s();
  }
}
