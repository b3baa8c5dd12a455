import type { IncomingMessage, ServerResponse } from "node:http";
import { forbidden, notAcceptable, resourceNotFound, unauthorized, ApiError } from "../api/errors.js";
import { SYSTEM_USER, type UserInfo } from "../api/registry.js";
import type { ResourceDef } from "../api/resources.js";
import { denialReason, type NonResourceAttributes, type ResourceAttributes } from "../auth/rbac.js";
import { userFromName, type Cluster } from "../cluster.js";
import { apiGroup, apiGroupList, apiVersions, resourceList, SERVER_VERSION } from "./discovery.js";
import { openApiGvDocument, openApiRoot, openApiV2, openApiV2Protobuf } from "./openapi.js";
import { encodeOpenApiV2 } from "./openapi-proto.js";
import { negotiate, parseRequestInfo, type ResourceRequest, type ResponseFormat } from "./request-info.js";
import { handleResource } from "./resource-handlers.js";
import { sendError, sendJson, sendRaw } from "./respond.js";

// The HTTP front door: authentication (bearer tokens, impersonation), authorisation
// (RBAC mode), content negotiation, non-resource endpoints (discovery, OpenAPI, health)
// and dispatch to the resource handlers. Every failure becomes a metav1.Status; nothing
// a client sends can throw past this function.

export interface SubresourceContext {
  req: IncomingMessage;
  res: ServerResponse;
  def: ResourceDef;
  namespace: string | undefined;
  name: string;
  user: UserInfo;
  query: URLSearchParams;
}

export type SubresourceHandler = (ctx: SubresourceContext) => Promise<void>;

export interface ApiHandlerOptions {
  rbac: boolean;
  adminToken: string;
  bookmarkIntervalMs: number;
  /** Extra subresources keyed `resource/subresource` (for example `pods/log`), served by later parts. */
  subresources: Map<string, SubresourceHandler>;
  hostHeader: () => string;
  /** Logs one line per request at debug level (a pino logger or anything shaped like one). */
  logger?: { debug(obj: object, msg: string): void } | undefined;
}

function authenticate(cluster: Cluster, req: IncomingMessage, opts: ApiHandlerOptions): UserInfo {
  const header = req.headers.authorization;
  let user: UserInfo | undefined;
  if (header?.startsWith("Bearer ")) {
    const token = header.slice(7).trim();
    user = token === opts.adminToken ? SYSTEM_USER : cluster.authenticate(token);
    if (!user) throw unauthorized();
  } else if (opts.rbac) throw unauthorized();
  else user = SYSTEM_USER;
  const as = req.headers["impersonate-user"];
  if (typeof as === "string" && as) {
    const attrs: ResourceAttributes = {
      verb: "impersonate",
      group: "",
      resource: as.startsWith("system:serviceaccount:") ? "serviceaccounts" : "users",
      name: as,
    };
    if (opts.rbac && !cluster.authorizer.allows(user, attrs))
      throw forbidden({ group: "", resource: attrs.resource }, as, denialReason(user, attrs));
    const groups = req.headers["impersonate-group"];
    return userFromName(as, Array.isArray(groups) ? groups : groups ? [groups] : []);
  }
  return user;
}

export function createApiHandler(cluster: Cluster, opts: ApiHandlerOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    let format: ResponseFormat = "json";
    if (opts.logger) {
      const started = performance.now();
      const log = opts.logger;
      res.once("finish", () =>
        log.debug(
          { method: req.method, url: req.url, status: res.statusCode, ms: Math.round(performance.now() - started) },
          "request",
        ),
      );
    }
    // Bodies of requests that take none (a GET with a body) are drained, not parsed.
    if (req.method === "GET" || req.method === "HEAD") req.resume();
    handle(cluster, opts, req, res, (f) => (format = f)).catch((error: unknown) => {
      try {
        sendError(res, error, format);
      } catch {
        res.destroy();
      }
    });
  };
}

async function handle(
  cluster: Cluster,
  opts: ApiHandlerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  setFormat: (f: ResponseFormat) => void,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? "/", "http://devcluster");
  } catch {
    throw resourceNotFound();
  }
  const user = authenticate(cluster, req, opts);
  const info = parseRequestInfo(req.method ?? "GET", url.pathname, url.searchParams);
  const format = negotiate(req.headers.accept);
  if (info.kind === "nonresource") {
    if (opts.rbac) {
      const attrs: NonResourceAttributes = { verb: info.verb, path: url.pathname };
      if (!cluster.authorizer.allows(user, attrs))
        throw new ApiError(403, "Forbidden", `forbidden: ${denialReason(user, attrs)}`, {});
    }
    return nonResource(cluster, opts, req, res, url, format ?? "json");
  }
  if (!format)
    throw notAcceptable(["application/json", "application/yaml", "application/json;as=Table;v=v1;g=meta.k8s.io"]);
  setFormat(format);
  authorize(cluster, opts, user, info);
  const def = cluster.catalog.get(info.group, info.version, info.resource);
  if (!def) throw resourceNotFound();
  if (info.subresource !== undefined && info.subresource !== "status") {
    const extra = opts.subresources.get(`${def.resource}/${info.subresource}`);
    if (!extra || info.name === undefined) throw resourceNotFound();
    return extra({ req, res, def, namespace: info.namespace, name: info.name, user, query: url.searchParams });
  }
  if (info.subresource === "status" && !def.statusSubresource) throw resourceNotFound();
  return handleResource(cluster, {
    req,
    res,
    url,
    info,
    def,
    user,
    format,
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
    rbac: opts.rbac,
  });
}

function authorize(cluster: Cluster, opts: ApiHandlerOptions, user: UserInfo, info: ResourceRequest): void {
  if (!opts.rbac) return;
  const attrs: ResourceAttributes = {
    verb: info.verb,
    group: info.group,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
  };
  if (cluster.authorizer.allows(user, attrs)) return;
  throw forbidden({ group: info.group, resource: info.resource }, info.name, denialReason(user, attrs));
}

function nonResource(
  cluster: Cluster,
  opts: ApiHandlerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  format: ResponseFormat,
): void {
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") throw resourceNotFound();
  const info = (d: ResourceDef) => cluster.crds.info(d);
  const json = (body: unknown) => sendJson(res, 200, body, format === "yaml" ? "yaml" : "json");
  if (path === "/version") return json(SERVER_VERSION);
  if (path === "/healthz" || path === "/livez" || path === "/readyz") return sendRaw(res, 200, "ok");
  if (path === "/api") return json(apiVersions(opts.hostHeader()));
  if (path === "/apis") return json(apiGroupList(cluster.catalog));
  if (path === "/openapi/v3") return json(openApiRoot(cluster.catalog, info));
  if (path === "/openapi/v2") {
    // client-go asks for gnostic's protobuf first and reads nothing else from this path.
    if ((req.headers.accept ?? "").includes("protobuf")) {
      res.writeHead(200, {
        "content-type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        "cache-control": "no-cache, private",
      });
      res.end(openApiV2Protobuf(cluster.catalog, info, encodeOpenApiV2));
      return;
    }
    return json(openApiV2(cluster.catalog, info));
  }
  const parts = path.split("/").slice(1);
  if (parts[0] === "api" && parts.length === 2) {
    const list = resourceList(cluster.catalog, "", parts[1]!);
    if (list) return json(list);
  }
  if (parts[0] === "apis" && parts.length === 2) {
    const group = apiGroup(cluster.catalog, parts[1]!);
    if (group) return json(group);
  }
  if (parts[0] === "apis" && parts.length === 3) {
    const list = resourceList(cluster.catalog, parts[1]!, parts[2]!);
    if (list) return json(list);
  }
  if (parts[0] === "openapi" && parts[1] === "v3") {
    const rest = parts.slice(2);
    const doc =
      rest[0] === "api" && rest.length === 2
        ? openApiGvDocument(cluster.catalog, "", rest[1]!, info)
        : rest[0] === "apis" && rest.length === 3
          ? openApiGvDocument(cluster.catalog, rest[1]!, rest[2]!, info)
          : undefined;
    if (doc) return json(doc);
  }
  throw resourceNotFound();
}
