import { ApiError } from "../api/errors.js";
import type { KubeObject } from "../api/resources.js";
import { fromLabelSelectorObject, matchesLabels } from "../api/selectors.js";
import type { Cluster } from "../cluster.js";
import { canonical, isActive, isReady, scaledValue, setCondition, type Condition } from "./common.js";
import { splitKey, WorkloadController } from "./controller-base.js";

// policy/v1 PodDisruptionBudgets: the disruption controller's status (expected, desired
// and current healthy pods, disruptionsAllowed) and the eviction subresource's check. The
// check counts healthy pods from the store at the moment of the eviction, so two drains in
// a row cannot both take the last allowed disruption (the real server gets the same from
// a conflict on the budget's status).

type Obj = Record<string, unknown>;
interface PdbSpec {
  selector?: Parameters<typeof fromLabelSelectorObject>[0];
  minAvailable?: number | string;
  maxUnavailable?: number | string;
  unhealthyPodEvictionPolicy?: string;
}

export interface Budget {
  expectedPods: number;
  desiredHealthy: number;
  currentHealthy: number;
  disruptionsAllowed: number;
}

const healthy = (p: KubeObject) => isActive(p) && isReady(p);

export function podsOfBudget(pdb: KubeObject, pods: Iterable<KubeObject>): KubeObject[] {
  const sel = (pdb["spec"] as PdbSpec).selector;
  if (!sel) return [];
  const s = fromLabelSelectorObject(sel);
  return [...pods].filter(
    (p) => p.metadata.namespace === pdb.metadata.namespace && matchesLabels(s, p.metadata.labels),
  );
}

/** expectedPods from the pods' controllers' replicas where known (a Deployment's ReplicaSet, a StatefulSet), else the pods themselves. */
export function computeBudget(
  pdb: KubeObject,
  pods: readonly KubeObject[],
  replicasOf: (kind: string, ns: string, name: string) => number | undefined,
): Budget {
  const spec = pdb["spec"] as PdbSpec;
  const active = pods.filter(isActive);
  const controllers = new Map<string, number>();
  let loose = 0;
  for (const p of active) {
    const ref = p.metadata.ownerReferences?.find((r) => r.controller);
    const n = ref ? replicasOf(ref.kind, p.metadata.namespace!, ref.name) : undefined;
    if (ref && n !== undefined) controllers.set(`${ref.kind}/${ref.name}`, n);
    else loose++;
  }
  const expectedPods = [...controllers.values()].reduce((a, b) => a + b, 0) + loose;
  const currentHealthy = active.filter(healthy).length;
  let desiredHealthy: number;
  if (spec.maxUnavailable !== undefined)
    desiredHealthy = Math.max(0, expectedPods - scaledValue(spec.maxUnavailable, expectedPods, true));
  else if (spec.minAvailable !== undefined) desiredHealthy = scaledValue(spec.minAvailable, expectedPods, true);
  else desiredHealthy = expectedPods;
  return {
    expectedPods,
    desiredHealthy,
    currentHealthy,
    disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy),
  };
}

function replicasLookup(cluster: Cluster) {
  return (kind: string, ns: string, name: string): number | undefined => {
    const storage =
      kind === "ReplicaSet" ? "replicasets.apps" : kind === "StatefulSet" ? "statefulsets.apps" : undefined;
    const obj = storage ? cluster.store.get(storage, ns, name) : undefined;
    return obj ? ((obj["spec"] as { replicas?: number }).replicas ?? 1) : undefined;
  };
}

/** Throws the real server's 429 when evicting `pod` would break its budget (or 500 with more than one budget). */
export function checkEviction(cluster: Cluster, pod: KubeObject): void {
  if (!isActive(pod)) return;
  const ns = pod.metadata.namespace!;
  const budgets = [...cluster.store.scan("poddisruptionbudgets.policy", ns)]
    .map((e) => e.object)
    .filter((b) => podsOfBudget(b, [pod]).length > 0);
  if (budgets.length === 0) return;
  if (budgets.length > 1)
    throw new ApiError(
      500,
      "InternalError",
      "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
    );
  const pdb = budgets[0]!;
  const b = computeBudget(
    pdb,
    podsOfBudget(
      pdb,
      [...cluster.store.scan("pods", ns)].map((e) => e.object),
    ),
    replicasLookup(cluster),
  );
  const policy = (pdb["spec"] as PdbSpec).unhealthyPodEvictionPolicy ?? "IfHealthyBudget";
  if (!healthy(pod) && (policy === "AlwaysAllow" || b.currentHealthy >= b.desiredHealthy)) return;
  if (b.disruptionsAllowed > 0) return;
  throw new ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.", {
    causes: [
      {
        reason: "DisruptionBudget",
        message: `The disruption budget ${pdb.metadata.name} needs ${b.desiredHealthy} healthy pods and has ${b.currentHealthy} currently`,
      },
    ],
  });
}

export class DisruptionController extends WorkloadController {
  constructor(cluster: Cluster) {
    super(cluster, "disruption-controller", {
      storage: "poddisruptionbudgets.policy",
      group: "policy",
      resource: "poddisruptionbudgets",
    });
  }

  protected override secondary() {
    return [
      {
        storage: "pods",
        group: "",
        resource: "pods",
        keys: (p: KubeObject) =>
          [...this.cluster.store.scan("poddisruptionbudgets.policy", p.metadata.namespace)].map(
            (e) => `${e.namespace}/${e.name}`,
          ),
      },
    ];
  }

  protected async reconcile(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const c = this.cluster;
    const pdb = c.store.get("poddisruptionbudgets.policy", ns, name);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    const b = computeBudget(
      pdb,
      podsOfBudget(
        pdb,
        [...c.store.scan("pods", ns)].map((e) => e.object),
      ),
      replicasLookup(c),
    );
    const prev = (pdb["status"] ?? {}) as { conditions?: Condition[] };
    const t = c.timestamp();
    const condition: Condition =
      b.disruptionsAllowed > 0
        ? { type: "DisruptionAllowed", status: "True", reason: "SufficientPods", message: "" }
        : { type: "DisruptionAllowed", status: "False", reason: "InsufficientPods", message: "" };
    const status: Obj = {
      observedGeneration: pdb.metadata.generation ?? 1,
      disruptionsAllowed: b.disruptionsAllowed,
      currentHealthy: b.currentHealthy,
      desiredHealthy: b.desiredHealthy,
      expectedPods: b.expectedPods,
      conditions: setCondition(prev.conditions, condition, t),
    };
    if (canonical(status) !== canonical(pdb["status"] ?? {}))
      await c.registry.patch(
        c.resource("policy", "v1", "poddisruptionbudgets"),
        ns,
        name,
        "merge",
        { status },
        { fieldManager: "disruption-controller" },
        "status",
      );
  }
}
