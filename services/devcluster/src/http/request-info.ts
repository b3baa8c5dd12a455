import { queryFlag } from "./query.js";
// Parses a request path the way kube-apiserver's RequestInfoFactory does: API prefix,
// group, version, namespace, resource, name, subresource and the verb RBAC sees.

export interface ResourceRequest {
  kind: "resource";
  verb: string;
  group: string;
  version: string;
  namespace: string | undefined;
  resource: string;
  name: string | undefined;
  subresource: string | undefined;
  /** The old /watch/ path prefix was used. */
  watchPrefix: boolean;
}

export interface NonResourceRequest {
  kind: "nonresource";
  verb: string;
  path: string;
}

const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

export function parseRequestInfo(
  method: string,
  path: string,
  query: URLSearchParams,
): ResourceRequest | NonResourceRequest {
  const httpVerb = method.toLowerCase();
  const parts = path
    .split("/")
    .filter((p, i) => i > 0 && p !== "")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const nonResource = (): NonResourceRequest => ({
    kind: "nonresource",
    verb: httpVerb === "head" ? "get" : httpVerb,
    path,
  });
  let group = "";
  let version: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 3) {
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else return nonResource();
  let watchPrefix = false;
  if (rest[0] === "watch") {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  const resource = rest[0];
  if (resource === undefined) return nonResource();
  const name = rest[1];
  const subresource = rest[2];
  if (rest.length > 3) return nonResource();
  let verb: string;
  const watch = watchPrefix || queryFlag(query, "watch");
  switch (httpVerb) {
    case "get":
    case "head":
      verb = watch ? "watch" : name === undefined ? "list" : "get";
      break;
    case "post":
      verb = "create";
      break;
    case "put":
      verb = "update";
      break;
    case "patch":
      verb = "patch";
      break;
    case "delete":
      verb = name === undefined ? "deletecollection" : "delete";
      break;
    default:
      verb = httpVerb;
  }
  return { kind: "resource", verb, group, version, namespace, resource, name, subresource, watchPrefix };
}

export type ResponseFormat = "json" | "yaml" | "table" | "partial";

/** Chooses the first representation in the Accept header that the emulator can produce. */
export function negotiate(accept: string | undefined): ResponseFormat | undefined {
  if (!accept?.trim()) return "json";
  for (const raw of accept.split(",")) {
    const [type, ...params] = raw.split(";").map((s) => s.trim());
    const p = new Map(
      params.map((x) => {
        const [k, v = ""] = x.split("=");
        return [k!.trim(), v.trim()] as const;
      }),
    );
    const as = p.get("as");
    if (type === "application/json" || type === "application/*" || type === "*/*") {
      if (as === undefined) return "json";
      if (as === "Table" && p.get("g") === "meta.k8s.io" && (p.get("v") === "v1" || p.get("v") === "v1beta1"))
        return "table";
      if ((as === "PartialObjectMetadata" || as === "PartialObjectMetadataList") && p.get("g") === "meta.k8s.io")
        return "partial";
      continue;
    }
    if (type === "application/yaml" && as === undefined) return "yaml";
  }
  return undefined;
}
