import { randomBytes } from "node:crypto";
import { badRequest, methodNotAllowed, notFound } from "../api/errors.js";
import { nowRfc3339 } from "../api/registry.js";
import { serviceAccountUser, type Cluster } from "../cluster.js";
import type { SubresourceHandler } from "./api-handler.js";
import { decodeObject, readBody } from "./body.js";
import { sendJson } from "./respond.js";

// POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token (`kubectl create token`):
// a TokenRequest answered with a bearer token that authenticates as the ServiceAccount.
// The token is shaped as a JWT with the claims a real one carries, so clients that read
// them can; its signature is random (nothing verifies it but this devcluster's table).
// Expiry is reported, not enforced.

const DEFAULT_AUDIENCE = "https://kubernetes.default.svc.cluster.local";
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

export function tokenRequestHandler(cluster: Cluster): SubresourceHandler {
  return async ({ req, res, namespace, name, query }) => {
    if (req.method !== "POST" || !namespace) throw methodNotAllowed();
    const body = decodeObject(req, await readBody(req)) as {
      spec?: { audiences?: string[]; expirationSeconds?: number; boundObjectRef?: unknown };
    };
    const sa = cluster.store.get("serviceaccounts", namespace, name);
    if (!sa) throw notFound({ group: "", resource: "serviceaccounts" }, name);
    const spec = body.spec ?? {};
    const expirationSeconds = spec.expirationSeconds ?? 3600;
    if (expirationSeconds < 600)
      throw badRequest(
        `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`,
      );
    if (expirationSeconds > 2 ** 32)
      throw badRequest(
        `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`,
      );
    const audiences = spec.audiences?.length ? spec.audiences : [DEFAULT_AUDIENCE];
    const now = Date.parse(cluster.timestamp());
    const iat = Math.floor(now / 1000);
    const claims = {
      aud: audiences,
      exp: iat + expirationSeconds,
      iat,
      iss: DEFAULT_AUDIENCE,
      nbf: iat,
      sub: `system:serviceaccount:${namespace}:${name}`,
      "kubernetes.io": { namespace, serviceaccount: { name, uid: sa.metadata.uid } },
    };
    const token = `${b64url({ alg: "RS256", kid: "devcluster" })}.${b64url(claims)}.${randomBytes(32).toString("base64url")}`;
    if (!query.getAll("dryRun").includes("All")) cluster.addToken(token, serviceAccountUser(namespace, name));
    sendJson(res, 201, {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { name, namespace, creationTimestamp: nowRfc3339(new Date(now)) },
      spec: { audiences, expirationSeconds, boundObjectRef: spec.boundObjectRef ?? null },
      status: { token, expirationTimestamp: nowRfc3339(new Date((iat + expirationSeconds) * 1000)) },
    });
  };
}
