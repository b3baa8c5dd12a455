import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeApiError, type KubeObject, type PatchType, type ResourceRef, Resources } from "@nnunet-operator/kube";
import type { FakeKubePort } from "@nnunet-operator/kube/testing";

// An HTTP front for packages/kube's FakeKubePort: enough of the Kubernetes REST API (get,
// list, watch, create, merge patch, delete on the resources in Resources) for the real
// ClientPort, informers and leader election to talk to it over a socket. For integration
// tests and the latency benchmark while no API server (or the devcluster) is at hand. Not
// an API server: no validation, no auth, watches start from now.

const CONTENT_TYPES: Record<string, PatchType> = {
  "application/merge-patch+json": "merge",
  "application/json-patch+json": "json",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
};

interface Route {
  resource: ResourceRef;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

/** Parses /api/v1/... and /apis/<group>/<version>/... paths. Pure. */
export function parseApiPath(path: string): Route | undefined {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let group = "";
  let version: string | undefined;
  if (parts[0] === "api") {
    version = parts[1];
    parts.splice(0, 2);
  } else if (parts[0] === "apis") {
    group = parts[1] ?? "";
    version = parts[2];
    parts.splice(0, 3);
  } else return undefined;
  let namespace: string | undefined;
  const rest: string[] = parts;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = parts[1];
    parts.splice(0, 2);
  }
  const [plural, name, subresource] = parts;
  const resource = Object.values(Resources).find(
    (r) => r.group === group && r.version === version && r.plural === plural,
  );
  return resource ? { resource, namespace, name, subresource } : undefined;
}

export interface FakeApiServer {
  readonly url: string;
  /** A kubeconfig for ClientPort pointing at this server. */
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

export async function startFakeApiServer(port: FakeKubePort): Promise<FakeApiServer> {
  const watches = new Set<AbortController>();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => void handle(port, req, res, body, watches));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "fake", server: url, skipTLSVerify: true }],
        users: [{ name: "test", token: "test" }],
        contexts: [{ name: "fake", cluster: "fake", user: "test" }],
        currentContext: "fake",
      });
      return kc;
    },
    async close() {
      for (const w of watches) w.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof KubeApiError)
    return send(
      res,
      err.code || 500,
      err.status ?? { kind: "Status", code: err.code, reason: err.reason, message: err.message },
    );
  send(res, 500, { kind: "Status", code: 500, reason: "InternalError", message: String(err) });
}

async function handle(
  port: FakeKubePort,
  req: IncomingMessage,
  res: ServerResponse,
  body: string,
  watches: Set<AbortController>,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://fake");
  const route = parseApiPath(url.pathname);
  if (!route)
    return send(res, 404, {
      kind: "Status",
      code: 404,
      reason: "NotFound",
      message: `no route ${url.pathname}`,
      details: {},
    });
  const { resource, namespace, name, subresource } = route;
  const key = { namespace, name: name ?? "" };
  try {
    if (req.method === "GET" && name !== undefined) return send(res, 200, await port.get(resource, key));
    if (req.method === "GET" && url.searchParams.get("watch") === "true") {
      const abort = new AbortController();
      watches.add(abort);
      // The response closes when the client goes away (the request emits close once read).
      res.on("close", () => abort.abort());
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      const labelSelector = url.searchParams.get("labelSelector") ?? undefined;
      await port.watch(
        resource,
        { namespace, labelSelector },
        (event) => res.write(`${JSON.stringify(event)}\n`),
        abort.signal,
      );
      watches.delete(abort);
      return void res.end();
    }
    if (req.method === "GET") {
      const labelSelector = url.searchParams.get("labelSelector");
      const list = await port.list(resource, { namespace, ...(labelSelector && { labelSelector }) });
      return send(res, 200, {
        kind: `${resource.kind}List`,
        apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
        metadata: { resourceVersion: list.resourceVersion },
        items: list.items,
      });
    }
    if (req.method === "POST") return send(res, 201, await port.create(resource, JSON.parse(body) as KubeObject));
    if (req.method === "PATCH") {
      const type = CONTENT_TYPES[(req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? ""] ?? "merge";
      const patched =
        subresource === "status"
          ? await port.patchStatus(resource, key, JSON.parse(body), { type })
          : await port.patch(resource, key, JSON.parse(body), { type });
      return send(res, 200, patched);
    }
    if (req.method === "DELETE") {
      await port.delete(resource, key);
      return send(res, 200, { kind: "Status", status: "Success" });
    }
    send(res, 405, { kind: "Status", code: 405, reason: "MethodNotAllowed", message: `${req.method} not allowed` });
  } catch (err) {
    sendError(res, err);
  }
}
