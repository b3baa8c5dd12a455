import type { KubeObject } from "../api/resources.js";
import { fromLabelSelectorObject, matchesLabels } from "../api/selectors.js";
import type { Cluster } from "../cluster.js";
import { ignoreExpected } from "../sim/key-queue.js";
import {
  canonical,
  controllerUid,
  isActive,
  isAvailable,
  isReady,
  isTerminal,
  ownerRef,
  untilAvailable,
} from "./common.js";
import { splitKey, WorkloadController } from "./controller-base.js";

// The apps/v1 ReplicaSet controller, in process: keeps spec.replicas active pods from the
// template (`<rs>-<random>`, controlled by the ReplicaSet), deletes the surplus in the real
// controller's order (unscheduled, pending, not ready, then the newest first), removes
// finished pods so that they are replaced, and reports replicas/ready/available.

const BURST = 500;

type PodRank = [number, number, number, string];

/** Lower sorts first: deleted first (controller.ActivePods ordering, simplified). */
export function deletionRank(pod: KubeObject): PodRank {
  const spec = (pod["spec"] ?? {}) as { nodeName?: string };
  const phase = (pod["status"] as { phase?: string } | undefined)?.phase;
  return [
    spec.nodeName ? 1 : 0,
    phase === "Pending" ? 0 : 1,
    isReady(pod) ? 1 : 0,
    pod.metadata.creationTimestamp ?? "",
  ];
}

export function byDeletionOrder(a: KubeObject, b: KubeObject): number {
  const [x, y] = [deletionRank(a), deletionRank(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return y[3].localeCompare(x[3]);
}

export function podFromReplicaSet(rs: KubeObject): KubeObject {
  const tpl =
    (
      rs["spec"] as {
        template?: {
          metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
          spec?: unknown;
        };
      }
    ).template ?? {};
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace!,
      labels: { ...tpl.metadata?.labels },
      ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
      ownerReferences: [ownerRef(rs)],
    },
    spec: structuredClone(tpl.spec ?? {}),
  };
}

export class ReplicaSetController extends WorkloadController {
  constructor(cluster: Cluster) {
    super(cluster, "replicaset-controller", { storage: "replicasets.apps", group: "apps", resource: "replicasets" });
  }

  protected override secondary() {
    return [{ storage: "pods", group: "", resource: "pods", keys: WorkloadController.ownerKey("ReplicaSet") }];
  }

  protected async reconcile(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const c = this.cluster;
    const rs = c.store.get("replicasets.apps", ns, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const podDef = c.resource("", "v1", "pods");
    const spec = rs["spec"] as {
      replicas?: number;
      minReadySeconds?: number;
      selector?: Parameters<typeof fromLabelSelectorObject>[0];
    };
    const pods = [...c.store.scan("pods", ns)]
      .map((e) => e.object)
      .filter((p) => controllerUid(p, "ReplicaSet") === rs.metadata.uid);
    for (const p of pods.filter(isTerminal))
      await c.delete(podDef, ns, p.metadata.name!, { preconditions: { uid: p.metadata.uid! } }).catch(ignoreExpected);
    const active = pods.filter(isActive);
    const want = spec.replicas ?? 1;
    const opts = { fieldManager: "replicaset-controller" };
    if (active.length < want) {
      for (let i = 0; i < Math.min(BURST, want - active.length); i++) {
        const pod = await c.registry.create(podDef, ns, podFromReplicaSet(rs), opts);
        this.recorder.event(rs, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`);
      }
    } else if (active.length > want) {
      for (const p of [...active].sort(byDeletionOrder).slice(0, active.length - want)) {
        await c.delete(podDef, ns, p.metadata.name!, { preconditions: { uid: p.metadata.uid! } }).catch(ignoreExpected);
        this.recorder.event(rs, "Normal", "SuccessfulDelete", `Deleted pod: ${p.metadata.name}`);
      }
    }
    const now = c.now();
    const minReady = spec.minReadySeconds ?? 0;
    const selector = fromLabelSelectorObject(spec.selector);
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => matchesLabels(selector, p.metadata.labels)).length,
      readyReplicas: active.filter(isReady).length,
      availableReplicas: active.filter((p) => isAvailable(p, minReady, now)).length,
      terminatingReplicas: pods.filter((p) => p.metadata.deletionTimestamp && !isTerminal(p)).length,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    if (canonical(status) !== canonical(rs["status"] ?? {}))
      await c.registry.patch(c.resource("apps", "v1", "replicasets"), ns, name, "merge", { status }, opts, "status");
    const wait = active.map((p) => untilAvailable(p, minReady, now)).filter((x): x is number => x !== undefined);
    if (wait.length > 0) this.queue.addAfter(key, Math.min(...wait) + 10);
  }
}
