import { methodNotAllowed, notFound } from "../api/errors.js";
import { apiVersionOf } from "../api/resources.js";
import { userFromName, type Cluster } from "../cluster.js";
import { decodeObject, readBody } from "./body.js";
import type { ResourceCall } from "./resource-handlers.js";
import { sendJson } from "./respond.js";

// Create-only review resources, answered from the authenticator and the authorizer and
// never stored: access reviews (`kubectl auth can-i`), rules reviews (`kubectl auth can-i
// --list`) and SelfSubjectReview (`kubectl auth whoami`).

type Spec = {
  resourceAttributes?: Record<string, string>;
  nonResourceAttributes?: { path?: string; verb?: string };
  user?: string;
  groups?: string[];
  namespace?: string;
};

export async function review(cluster: Cluster, call: ResourceCall): Promise<void> {
  if (call.info.verb !== "create" || call.info.name !== undefined) throw methodNotAllowed();
  const body = decodeObject(call.req, await readBody(call.req)) as { spec?: Spec };
  const spec = body.spec ?? {};
  const typeMeta = { kind: call.def.kind, apiVersion: apiVersionOf(call.def), metadata: { creationTimestamp: null } };
  switch (call.def.resource) {
    case "selfsubjectreviews":
      return sendJson(call.res, 201, {
        ...typeMeta,
        status: { userInfo: { username: call.user.username, groups: call.user.groups } },
      });
    case "selfsubjectrulesreviews": {
      // Without RBAC every request is allowed, as the rules of system:masters say.
      const rules = call.rbac
        ? cluster.authorizer.rulesFor(call.user, spec.namespace || undefined)
        : cluster.authorizer.rulesFor({ username: call.user.username, groups: ["system:masters"] }, undefined);
      return sendJson(call.res, 201, {
        ...typeMeta,
        spec: { namespace: spec.namespace ?? "" },
        status: { ...rules, incomplete: false },
      });
    }
    default:
      return accessReview(cluster, call, spec, typeMeta);
  }
}

/** SelfSubjectAccessReview and SubjectAccessReview. */
function accessReview(cluster: Cluster, call: ResourceCall, spec: Spec, typeMeta: object): void {
  let user = call.user;
  if (call.def.resource === "subjectaccessreviews") {
    if (!spec.user && !spec.groups?.length) throw notFound(call.def, "");
    user = spec.user ? userFromName(spec.user, spec.groups ?? []) : { username: "", groups: spec.groups ?? [] };
  }
  let allowed: boolean;
  if (!call.rbac && call.def.resource === "selfsubjectaccessreviews") allowed = true;
  else if (spec.nonResourceAttributes)
    allowed = cluster.authorizer.allows(user, {
      verb: spec.nonResourceAttributes.verb ?? "get",
      path: spec.nonResourceAttributes.path ?? "/",
    });
  else {
    const r = spec.resourceAttributes ?? {};
    allowed = cluster.authorizer.allows(user, {
      verb: r["verb"] ?? "",
      group: r["group"] ?? "",
      resource: r["resource"] ?? "",
      subresource: r["subresource"] || undefined,
      namespace: r["namespace"] || undefined,
      name: r["name"] || undefined,
    });
  }
  sendJson(call.res, 201, { ...typeMeta, spec, status: { allowed, ...(allowed ? { reason: "RBAC: allowed" } : {}) } });
}
