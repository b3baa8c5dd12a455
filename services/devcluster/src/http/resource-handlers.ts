import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError, badRequest, methodNotAllowed, resourceNotFound } from "../api/errors.js";
import type { DeleteOptions, PropagationPolicy } from "../api/deletion.js";
import type { FieldValidation, UserInfo, WriteOptions } from "../api/registry.js";
import { apiVersionOf, needsConversion, type KubeObject, type ResourceDef } from "../api/resources.js";
import { matchesFieldValues, matchesLabels, parseFieldSelector, parseLabelSelector } from "../api/selectors.js";
import type { Entry } from "../api/store.js";
import type { Cluster } from "../cluster.js";
import { checkDuplicateFields, decodeDeleteOptions, decodeObject, decodePatch, readBody } from "./body.js";
import type { ResourceRequest, ResponseFormat } from "./request-info.js";
import { sendJson, sendRaw } from "./respond.js";
import { partialMetadata, toTable } from "./table.js";
import { review } from "./reviews.js";
import { serveWatch } from "./watch.js";
import { queryFlag } from "./query.js";

// The REST verbs of one resource over HTTP: query parameters and bodies in, registry
// calls, and responses in the negotiated form (object, list, Table, partial metadata).

export interface ResourceCall {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  info: ResourceRequest;
  def: ResourceDef;
  user: UserInfo;
  format: ResponseFormat;
  bookmarkIntervalMs: number;
  rbac: boolean;
}

const FIELD_VALIDATIONS = new Set(["Strict", "Warn", "Ignore"]);

function writeOptions(call: ResourceCall): WriteOptions & { warnings: string[] } {
  const q = call.url.searchParams;
  const dryRun = q.getAll("dryRun");
  if (dryRun.some((d) => d !== "All"))
    throw badRequest(`dryRun: Unsupported value: "${dryRun.find((d) => d !== "All")}": supported values: "All"`);
  const fv = q.get("fieldValidation");
  if (fv !== null && fv !== "" && !FIELD_VALIDATIONS.has(fv))
    throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
  const manager = q.get("fieldManager") ?? defaultManager(call.req);
  if (manager.length > 128) throw badRequest("fieldManager: Too long: may not be more than 128 bytes");
  return {
    user: call.user,
    dryRun: dryRun.length > 0,
    fieldManager: manager,
    fieldValidation: (fv || "Warn") as FieldValidation,
    warnings: [],
    shared: true,
  };
}

/** The real server names an unnamed manager after the client's user agent. */
function defaultManager(req: IncomingMessage): string {
  const ua = req.headers["user-agent"] ?? "";
  return ua.split("/")[0]?.trim() || "unknown";
}

function integerParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`${name}: Invalid value: "${v}": must be an integer`);
  return Number(v);
}

/**
 * The cluster whose stored JSON may stand for a write's result: never under dryRun, where
 * the result keeps the stored resourceVersion but not the stored content.
 */
const storedJson = (cluster: Cluster, opts: WriteOptions) => (opts.dryRun ? undefined : cluster);

function render(call: ResourceCall, obj: KubeObject, code: number, warnings: string[] = [], cluster?: Cluster): void {
  if (cluster && call.format === "json" && !needsConversion(call.def)) {
    // The stored JSON of what was just written is the response body: no second stringify.
    const entry = cluster.store.entry(call.def.storage, obj.metadata.namespace, obj.metadata.name ?? "");
    if (entry && entry.resourceVersion === obj.metadata.resourceVersion)
      return sendRaw(call.res, code, entry.json, "json", warnings);
  }
  if (call.format === "table")
    return sendJson(
      call.res,
      code,
      toTable(
        call.def,
        [obj],
        { resourceVersion: obj.metadata.resourceVersion! },
        call.url.searchParams.get("includeObject"),
        Date.now(),
      ),
      "table",
      warnings,
    );
  if (call.format === "partial") return sendJson(call.res, code, partialMetadata(obj), "json", warnings);
  sendJson(call.res, code, obj, call.format, warnings);
}

export async function handleResource(cluster: Cluster, call: ResourceCall): Promise<void> {
  const { info, def } = call;
  if (def.virtual) return review(cluster, call);
  if (!def.namespaced && info.namespace !== undefined && def.resource !== "namespaces") throw resourceNotFound();
  if (def.namespaced && info.name !== undefined && info.namespace === undefined) throw resourceNotFound();
  if (!def.verbs.includes(info.verb)) throw methodNotAllowed();
  if (info.watchPrefix && info.verb !== "watch") throw methodNotAllowed();
  const ns = def.namespaced ? info.namespace : undefined;
  const name = info.name;
  const sub = info.subresource === "status" ? "status" : undefined;
  const method = call.req.method ?? "GET";
  if (name === undefined && (method === "PUT" || method === "PATCH")) throw methodNotAllowed();
  if (name !== undefined && method === "POST") throw methodNotAllowed();
  if (def.namespaced && method === "POST" && ns === undefined) throw methodNotAllowed();
  if (sub && (info.verb === "delete" || info.verb === "create")) throw methodNotAllowed();
  switch (info.verb) {
    case "get":
      return render(call, cluster.registry.get(def, ns, name!), 200);
    case "list":
      return list(cluster, call, ns);
    case "watch":
      return watch(cluster, call, ns);
    case "create": {
      const opts = writeOptions(call);
      const body = decodeWrite(call, opts, await readBody(call.req));
      return render(
        call,
        await cluster.registry.create(def, ns, body, opts),
        201,
        opts.warnings,
        storedJson(cluster, opts),
      );
    }
    case "update": {
      const opts = writeOptions(call);
      const body = decodeWrite(call, opts, await readBody(call.req));
      return render(
        call,
        await cluster.registry.update(def, ns, name!, body, opts, sub),
        200,
        opts.warnings,
        storedJson(cluster, opts),
      );
    }
    case "patch": {
      const opts = writeOptions(call);
      const { type, patch } = decodePatch(call.req, await readBody(call.req));
      const force = call.url.searchParams.get("force");
      if (force !== null && type !== "apply")
        throw badRequest("force: Invalid value: true: may not be specified for non-apply patch");
      const existed = cluster.registry.stored(def, ns, name!) !== undefined;
      // Apply needs an explicit manager; the user-agent default is only for Updates.
      if (type === "apply" && call.url.searchParams.get("fieldManager") === null) delete opts.fieldManager;
      const out = await cluster.registry.patch(
        def,
        ns,
        name!,
        type,
        patch,
        { ...opts, force: queryFlag(call.url.searchParams, "force") },
        sub,
      );
      return render(call, out, existed ? 200 : 201, opts.warnings, storedJson(cluster, opts));
    }
    case "delete": {
      const opts = deleteOptions(call, decodeDeleteOptions(call.req, await readBody(call.req)));
      const result = await cluster.deleter.delete(def, ns, name!, opts);
      if (!result.deleted || def.resource === "pods" || def.resource === "namespaces")
        return render(call, result.object, 200);
      return sendJson(call.res, 200, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: {
          name,
          ...(def.group ? { group: def.group } : {}),
          kind: def.resource,
          uid: result.object.metadata.uid,
        },
      });
    }
    case "deletecollection": {
      const opts = deleteOptions(call, decodeDeleteOptions(call.req, await readBody(call.req)));
      const q = call.url.searchParams;
      const deleted = await cluster.deleter.deleteCollection(
        def,
        ns,
        parseLabelSelector(q.get("labelSelector")),
        parseFieldSelector(q.get("fieldSelector"), def.storage),
        opts,
      );
      return sendJson(call.res, 200, {
        kind: def.listKind,
        apiVersion: apiVersionOf(def),
        metadata: { resourceVersion: String(cluster.store.currentRV()) },
        items: deleted,
      });
    }
    default:
      throw methodNotAllowed();
  }
}

function decodeWrite(call: ResourceCall, opts: WriteOptions & { warnings: string[] }, raw: Buffer): unknown {
  const body = decodeObject(call.req, raw);
  checkDuplicateFields(call.req, raw, call.def.kind, call.def.version, opts.fieldValidation ?? "Warn", opts.warnings);
  return body;
}

function deleteOptions(call: ResourceCall, body: Record<string, unknown>): DeleteOptions {
  const q = call.url.searchParams;
  const opts: DeleteOptions = { ...writeOptions(call) };
  const grace =
    integerParam(q, "gracePeriodSeconds") ??
    (typeof body["gracePeriodSeconds"] === "number" ? body["gracePeriodSeconds"] : undefined);
  if (grace !== undefined) opts.gracePeriodSeconds = grace;
  const policy =
    q.get("propagationPolicy") ??
    (typeof body["propagationPolicy"] === "string" ? body["propagationPolicy"] : undefined);
  if (policy) opts.propagationPolicy = policy as PropagationPolicy;
  if (q.has("orphanDependents")) opts.orphanDependents = queryFlag(q, "orphanDependents");
  else if (typeof body["orphanDependents"] === "boolean") opts.orphanDependents = body["orphanDependents"];
  if (typeof body["preconditions"] === "object" && body["preconditions"] !== null)
    opts.preconditions = body["preconditions"] as DeleteOptions["preconditions"] & object;
  if (Array.isArray(body["dryRun"]) && body["dryRun"].includes("All")) opts.dryRun = true;
  return opts;
}

interface ContinueToken {
  rv: number;
  start: string;
}

function list(cluster: Cluster, call: ResourceCall, ns: string | undefined): void {
  const { def } = call;
  const q = call.url.searchParams;
  const labels = parseLabelSelector(q.get("labelSelector"));
  const fields = parseFieldSelector(q.get("fieldSelector"), def.storage);
  const limit = integerParam(q, "limit");
  const rvParam = q.get("resourceVersion");
  const current = cluster.store.currentRV();
  if (rvParam && rvParam !== "0") {
    const n = Number(rvParam);
    if (!Number.isInteger(n)) throw badRequest(`invalid resource version: "${rvParam}"`);
    if (n > current)
      throw new ApiError(504, "Timeout", `Timeout: Too large resource version: ${n}, current: ${current}`, {
        causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
        retryAfterSeconds: 1,
      });
  }
  let after: string | undefined;
  let listRV = current;
  const cont = q.get("continue");
  if (cont) {
    let token: ContinueToken;
    try {
      token = JSON.parse(Buffer.from(cont, "base64").toString("utf8")) as ContinueToken;
      if (typeof token.rv !== "number" || typeof token.start !== "string") throw new Error("bad token");
    } catch {
      throw badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
    }
    if (cluster.store.isExpired(def.storage, token.rv)) {
      throw new ApiError(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
      );
    }
    after = token.start;
    listRV = token.rv;
  }
  const entries: Entry[] = [];
  let more = false;
  let lastKey = "";
  let remaining = 0;
  const filtering = labels.length > 0 || fields.length > 0;
  for (const e of cluster.store.scan(def.storage, ns, after)) {
    if (filtering && !(matchesLabels(labels, e.labels) && matchesFieldValues(fields, e.fields))) continue;
    if (limit !== undefined && limit > 0 && entries.length >= limit) {
      more = true;
      remaining++;
      continue;
    }
    entries.push(e);
    lastKey = `${e.namespace ?? ""}/${e.name}`;
  }
  const metadata: Record<string, unknown> = { resourceVersion: String(listRV) };
  if (more) {
    metadata["continue"] = Buffer.from(JSON.stringify({ rv: listRV, start: lastKey } satisfies ContinueToken)).toString(
      "base64",
    );
    metadata["remainingItemCount"] = remaining;
  }
  const external = (o: KubeObject) => (def.convert ? def.convert.fromStored(o) : o);
  if (call.format === "table") {
    return sendJson(
      call.res,
      200,
      toTable(
        def,
        entries.map((e) => external(e.object)),
        metadata,
        q.get("includeObject"),
        Date.now(),
      ),
      "table",
    );
  }
  if (call.format === "partial") {
    return sendJson(call.res, 200, {
      kind: "PartialObjectMetadataList",
      apiVersion: "meta.k8s.io/v1",
      metadata,
      items: entries.map((e) => partialMetadata(external(e.object))),
    });
  }
  if (call.format === "yaml" || needsConversion(def)) {
    return sendJson(
      call.res,
      200,
      { kind: def.listKind, apiVersion: apiVersionOf(def), metadata, items: entries.map((e) => external(e.object)) },
      call.format,
    );
  }
  // Concatenating the stored JSON keeps a list of 10,000 pods cheap.
  const head = JSON.stringify({ kind: def.listKind, apiVersion: apiVersionOf(def), metadata }).slice(0, -1);
  sendRaw(call.res, 200, `${head},"items":[${entries.map((e) => e.json).join(",")}]}`);
}

function watch(cluster: Cluster, call: ResourceCall, ns: string | undefined): void {
  const { def } = call;
  const q = call.url.searchParams;
  const timeout = integerParam(q, "timeoutSeconds");
  // The deprecated watch of one named object is a watch with a metadata.name selector.
  const fields = parseFieldSelector(q.get("fieldSelector"), def.storage);
  if (call.info.name !== undefined) fields.push({ field: "metadata.name", op: "=", value: call.info.name });
  serveWatch(cluster.store, call.res, {
    def,
    namespace: ns,
    labels: parseLabelSelector(q.get("labelSelector")),
    fields,
    resourceVersion: q.get("resourceVersion") ?? undefined,
    allowBookmarks: queryFlag(q, "allowWatchBookmarks"),
    sendInitialEvents: queryFlag(q, "sendInitialEvents"),
    timeoutSeconds: timeout,
    format: call.format,
    includeObject: q.get("includeObject"),
    bookmarkIntervalMs: call.bookmarkIntervalMs,
    now: () => Date.now(),
  });
}
