import { badRequest, methodNotAllowed, notFound } from "../api/errors.js";
import { checkEviction } from "../workloads/disruption.js";
import { bindPod } from "../api/binding.js";
import type { Cluster } from "../cluster.js";
import type { SubresourceHandler } from "./api-handler.js";
import { decodeObject, readBody } from "./body.js";
import { sendJson } from "./respond.js";

/** POST /api/v1/namespaces/{ns}/pods/{name}/eviction: deletes the pod unless its PodDisruptionBudget forbids it (429). */
export function evictionHandler(cluster: Cluster): SubresourceHandler {
  return async ({ req, res, def, namespace, name, user }) => {
    if (req.method !== "POST" || !namespace) throw methodNotAllowed();
    const body = decodeObject(req, await readBody(req)) as {
      deleteOptions?: { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string } };
    };
    const o = body.deleteOptions ?? {};
    const pod = cluster.store.get("pods", namespace, name);
    if (!pod) throw notFound({ group: "", resource: "pods" }, name);
    checkEviction(cluster, pod);
    await cluster.deleter.delete(def, namespace, name, {
      user,
      ...(o.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: o.gracePeriodSeconds } : {}),
      ...(o.preconditions ? { preconditions: o.preconditions } : {}),
    });
    sendJson(res, 201, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
  };
}

/** POST /api/v1/namespaces/{ns}/pods/{name}/binding with a v1 Binding. */
export function bindingHandler(cluster: Cluster): SubresourceHandler {
  return async ({ req, res, namespace, name, user, query }) => {
    if (req.method !== "POST" || !namespace) throw methodNotAllowed();
    const body = decodeObject(req, await readBody(req)) as { target?: { name?: string; kind?: string } };
    if (body.target?.kind !== undefined && body.target.kind !== "Node")
      throw badRequest(`Binding.target.kind: Unsupported value: "${body.target.kind}": supported values: "Node"`);
    await bindPod(cluster.registry, namespace, name, body.target?.name ?? "", {
      user,
      dryRun: query.getAll("dryRun").includes("All"),
    });
    sendJson(res, 201, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
  };
}
