import type { Cluster } from "../cluster.js";
import type { KubeObject } from "../api/resources.js";
import { readyCondition } from "./node-spec.js";

// Node loss and maintenance on demand: `fail` makes a node unreachable (Ready Unknown, the
// node controller's unreachable taints; its pods are lost, see node-lifecycle.ts),
// `recover` brings it back, `cordon`/`uncordon` toggle spec.unschedulable as kubectl does
// (plus the unschedulable taint the node controller adds). decideNodeAction is pure; the
// adapters write through the in-process registry or over HTTP (the CLI).

export type NodeAction = "fail" | "recover" | "cordon" | "uncordon";
export const NODE_ACTIONS: readonly NodeAction[] = ["fail", "recover", "cordon", "uncordon"];

interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

const UNREACHABLE = "node.kubernetes.io/unreachable";
const UNSCHEDULABLE = "node.kubernetes.io/unschedulable";

export interface NodeChange {
  spec: Record<string, unknown>;
  conditions: unknown[];
}

export function isNodeReady(node: KubeObject): boolean {
  const conditions =
    (node["status"] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === "Ready" && c.status === "True");
}

/** The node's new spec and conditions after an action. */
export function decideNodeAction(node: KubeObject, action: NodeAction, now: Date): NodeChange {
  const time = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  const spec = { ...((node["spec"] ?? {}) as Record<string, unknown>) };
  let taints = [...((spec["taints"] as Taint[] | undefined) ?? [])];
  let conditions = [...((node["status"] as { conditions?: { type: string }[] } | undefined)?.conditions ?? [])];
  const setReady = (ready: boolean) => {
    conditions = [...conditions.filter((c) => c.type !== "Ready"), readyCondition(ready, time)];
  };
  switch (action) {
    case "fail":
      taints = taints.filter((t) => t.key !== UNREACHABLE);
      taints.push(
        { key: UNREACHABLE, effect: "NoSchedule", timeAdded: time },
        { key: UNREACHABLE, effect: "NoExecute", timeAdded: time },
      );
      setReady(false);
      break;
    case "recover":
      taints = taints.filter((t) => t.key !== UNREACHABLE);
      setReady(true);
      break;
    case "cordon":
      spec["unschedulable"] = true;
      if (!taints.some((t) => t.key === UNSCHEDULABLE))
        taints.push({ key: UNSCHEDULABLE, effect: "NoSchedule", timeAdded: time });
      break;
    case "uncordon":
      delete spec["unschedulable"];
      taints = taints.filter((t) => t.key !== UNSCHEDULABLE);
      break;
  }
  if (taints.length > 0) spec["taints"] = taints;
  else delete spec["taints"];
  return { spec, conditions };
}

/** Applies an action in process (library form of `devcluster node ACTION NAME`). */
export async function applyNodeAction(cluster: Cluster, action: NodeAction, name: string): Promise<KubeObject> {
  const def = cluster.resource("", "v1", "nodes");
  const node = cluster.registry.get(def, undefined, name);
  const change = decideNodeAction(node, action, cluster.now());
  await cluster.registry.patch(
    def,
    undefined,
    name,
    "merge",
    { spec: { taints: null, unschedulable: null, ...change.spec } },
    { fieldManager: "devcluster-node" },
  );
  return cluster.registry.patch(
    def,
    undefined,
    name,
    "merge",
    { status: { conditions: change.conditions } },
    { fieldManager: "devcluster-node" },
    "status",
  );
}
