import assert from "node:assert/strict";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { ClientPort, type RequestInfo, sharedAgentMiddleware } from "./client-port.js";
import { isAlreadyExists, isConflict, isInvalid, isNotFound } from "./errors.js";
import { Informer } from "./informer.js";
import { type KubeObject, Resources } from "./port.js";

// A minimal fake API server (node:http) for one resource, TrainingRuns in namespace "ns",
// plus a core Pod path: enough to check what the port puts on the wire and how it reads
// the answers, without the devcluster.

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  body: string;
}

const TR_PATH = "/apis/nnunet-operator.io/v1alpha1/namespaces/ns/trainingruns";
const run = (name: string, rv: string): KubeObject => ({
  apiVersion: "nnunet-operator.io/v1alpha1",
  kind: "TrainingRun",
  metadata: { namespace: "ns", name, resourceVersion: rv },
});
const status = (code: number, reason: string, name?: string) => ({
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  code,
  reason,
  message: `${reason} (${name ?? "-"})`,
  details: name ? { name, kind: "trainingruns" } : {},
});

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Watch sessions, in order: each gets the response to write events to, and ends it or not. */
type WatchSession = (res: ServerResponse, query: URLSearchParams) => void;

describe("ClientPort against a fake API server", () => {
  const seen: Seen[] = [];
  const requests: RequestInfo[] = [];
  let patchAnswer: [number, unknown] = [200, run("r1", "2")];
  let lists: Array<{ items: KubeObject[]; rv: string }> = [];
  let watches: WatchSession[] = [];
  const open: ServerResponse[] = [];
  let port!: ClientPort;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      seen.push({
        method: req.method ?? "",
        path: url.pathname,
        query: url.searchParams,
        contentType: req.headers["content-type"],
        body,
      });
      const path = url.pathname;
      if (req.method === "GET" && path === "/api/v1/namespaces/ns/pods/p1")
        return send(res, 200, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "p1", namespace: "ns", creationTimestamp: "2026-01-01T00:00:00Z" },
        });
      if (req.method === "GET" && path === `${TR_PATH}/missing`)
        return send(res, 404, status(404, "NotFound", "missing"));
      if (req.method === "GET" && path === TR_PATH && url.searchParams.get("watch") === "true") {
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        open.push(res);
        const session = watches.shift();
        if (session) session(res, url.searchParams);
        return;
      }
      if (req.method === "GET" && path === TR_PATH) {
        const next = lists.shift() ?? { items: [], rv: "1" };
        return send(res, 200, {
          apiVersion: "nnunet-operator.io/v1alpha1",
          kind: "TrainingRunList",
          metadata: { resourceVersion: next.rv },
          items: next.items,
        });
      }
      if (req.method === "POST" && path === TR_PATH) return send(res, 409, status(409, "AlreadyExists", "r1"));
      if (req.method === "PATCH") return send(res, patchAnswer[0], patchAnswer[1]);
      if (path.endsWith("/slow")) return; // never answers: the client's timeout must fire
      if (req.method === "DELETE") return send(res, 200, { kind: "Status", status: "Success" });
      send(res, 404, { kind: "Status", code: 404, reason: "NotFound", details: {} });
    });
  });

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port: p } = server.address() as AddressInfo;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: `http://127.0.0.1:${p}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t0ken" }],
      contexts: [{ name: "fake", cluster: "fake", user: "u" }],
      currentContext: "fake",
    });
    port = new ClientPort(kc, { fieldManager: "test-manager", onRequest: (i) => requests.push(i) });
  });

  after(async () => {
    for (const res of open) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const patchCases: Array<[string, "merge" | "json" | "strategic" | "apply", unknown, string]> = [
    [
      "a merge patch goes out as application/merge-patch+json",
      "merge",
      { spec: { suspend: true } },
      "application/merge-patch+json",
    ],
    [
      "a JSON patch goes out as application/json-patch+json with its array intact",
      "json",
      [{ op: "replace", path: "/spec/suspend", value: true }],
      "application/json-patch+json",
    ],
    [
      "a strategic merge patch goes out as application/strategic-merge-patch+json",
      "strategic",
      { metadata: { labels: { a: "b" } } },
      "application/strategic-merge-patch+json",
    ],
    [
      "a server-side apply goes out as application/apply-patch+yaml",
      "apply",
      { apiVersion: "nnunet-operator.io/v1alpha1", kind: "TrainingRun", metadata: { name: "r1" } },
      "application/apply-patch+yaml",
    ],
  ];
  for (const [name, type, patch, contentType] of patchCases) {
    it(name, async () => {
      patchAnswer = [200, run("r1", "2")];
      const result = await port.patch(Resources.trainingRuns, { namespace: "ns", name: "r1" }, patch, {
        type,
        force: true,
      });
      const last = seen.at(-1)!;
      assert.equal(last.method, "PATCH");
      assert.equal(last.path, `${TR_PATH}/r1`);
      assert.equal(last.contentType, contentType);
      assert.deepEqual(JSON.parse(last.body), patch);
      assert.equal(last.query.get("fieldManager"), "test-manager");
      assert.equal(last.query.get("force"), type === "apply" ? "true" : null, "force only on apply");
      assert.equal(result.metadata.resourceVersion, "2");
    });
  }

  it("patches the status subresource at .../status", async () => {
    patchAnswer = [200, run("r1", "3")];
    await port.patchStatus(
      Resources.trainingRuns,
      { namespace: "ns", name: "r1" },
      { status: { phase: "Pending" } },
      { type: "merge" },
    );
    assert.equal(seen.at(-1)!.path, `${TR_PATH}/r1/status`);
    assert.equal(seen.at(-1)!.contentType, "application/merge-patch+json");
  });

  const errorCases: Array<[string, number, string, (e: unknown) => boolean, boolean]> = [
    ["maps 409 Conflict to a retryable conflict", 409, "Conflict", isConflict, true],
    ["maps 422 Invalid to a terminal error", 422, "Invalid", isInvalid, false],
    ["maps 404 of the object to a terminal not-found", 404, "NotFound", isNotFound, false],
  ];
  for (const [name, code, reason, predicate, retryable] of errorCases) {
    it(name, async () => {
      patchAnswer = [code, status(code, reason, "r1")];
      await assert.rejects(
        port.patch(Resources.trainingRuns, { namespace: "ns", name: "r1" }, {}, { type: "merge" }),
        (err: unknown) => {
          assert.equal(predicate(err), true);
          assert.equal((err as { name: string }).name, "KubeApiError");
          assert.equal((err as { retryable: boolean }).retryable, retryable);
          assert.equal((err as { code: number }).code, code);
          return true;
        },
      );
      assert.equal(requests.at(-1)?.code, code);
    });
  }

  it("maps a get of a missing object to NotFound and a create of an existing one to AlreadyExists", async () => {
    await assert.rejects(port.get(Resources.trainingRuns, { namespace: "ns", name: "missing" }), isNotFound);
    await assert.rejects(port.create(Resources.trainingRuns, run("r1", "")), isAlreadyExists);
    assert.equal(seen.at(-1)!.contentType, "application/json");
  });

  it("reaches core resources at /api/v1 and keeps timestamps as strings", async () => {
    const pod = await port.get(Resources.pods, { namespace: "ns", name: "p1" });
    assert.equal(seen.at(-1)!.path, "/api/v1/namespaces/ns/pods/p1");
    assert.equal(pod.metadata.creationTimestamp, "2026-01-01T00:00:00Z");
  });

  it("gives up on a request that gets no answer within the timeout, as a retryable Timeout", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: "fake", server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
      ],
      users: [{ name: "u" }],
      contexts: [{ name: "fake", cluster: "fake", user: "u" }],
      currentContext: "fake",
    });
    const impatient = new ClientPort(kc, { requestTimeoutMs: 200 });
    await assert.rejects(impatient.get(Resources.trainingRuns, { namespace: "ns", name: "slow" }), (err: unknown) => {
      assert.equal((err as { reason: string }).reason, "Timeout");
      assert.equal((err as { retryable: boolean }).retryable, true);
      return true;
    });
  });

  it("sends delete options as query parameters and preconditions in the body", async () => {
    await port.delete(
      Resources.trainingRuns,
      { namespace: "ns", name: "r1" },
      { propagationPolicy: "Background", preconditions: { uid: "u1" } },
    );
    const last = seen.at(-1)!;
    assert.equal(last.method, "DELETE");
    assert.equal(last.query.get("propagationPolicy"), "Background");
    assert.deepEqual(JSON.parse(last.body), { preconditions: { uid: "u1" } });
  });

  it("drives an informer that resumes its watch from the last version and re-lists after 410 Gone", async () => {
    const event = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;
    lists = [
      { items: [run("a", "10"), run("b", "10")], rv: "10" },
      { items: [run("b", "30"), run("c", "30")], rv: "30" },
    ];
    watches = [
      (res) => {
        res.write(event("MODIFIED", run("a", "11")));
        res.write(event("BOOKMARK", { kind: "TrainingRun", metadata: { resourceVersion: "12" } }));
        res.end();
      },
      (res) => {
        res.write(
          event("ERROR", {
            kind: "Status",
            code: 410,
            reason: "Expired",
            message: "too old resource version: 12 (25)",
          }),
        );
        res.end();
      },
    ];
    const informer = new Informer({ port, resource: Resources.trainingRuns, namespace: "ns", pageSize: 0 });
    const changes: string[] = [];
    informer.addHandler((c) =>
      changes.push(`${c.type} ${c.object.metadata.name}@${c.object.metadata.resourceVersion}`),
    );
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    const deadline = Date.now() + 5000;
    while (informer.resourceVersion !== "30" || seen.filter((s) => s.query.get("watch") === "true").length < 3) {
      if (Date.now() > deadline) assert.fail(`informer stuck at ${informer.resourceVersion}: ${changes.join(", ")}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    controller.abort();
    await running;
    const watchVersions = seen
      .filter((s) => s.query.get("watch") === "true")
      .map((s) => s.query.get("resourceVersion"));
    assert.deepEqual(watchVersions, ["10", "12", "30"], "resumed from the bookmark, then from the re-list");
    assert.equal(seen.find((s) => s.query.get("watch") === "true")?.query.get("allowWatchBookmarks"), "true");
    assert.deepEqual(changes, [
      "added a@10",
      "added b@10",
      "updated a@11",
      "deleted a@11",
      "updated b@30",
      "added c@30",
    ]);
  });
});

describe("sharedAgentMiddleware", () => {
  it("reuses one keep-alive https agent per TLS configuration instead of client-node's agent per request", async () => {
    const { Agent } = await import("node:https");
    const { RequestContext, HttpMethod } = await import("@kubernetes/client-node/dist/gen/http/http.js");
    const middleware = sharedAgentMiddleware();
    const through = async (ca: string) => {
      const ctx = new RequestContext("https://127.0.0.1:6443/api", HttpMethod.GET);
      ctx.setAgent(new Agent({ ca }));
      return (await middleware.pre(ctx).toPromise()).getAgent() as InstanceType<typeof Agent>;
    };
    const [a, b, c] = [await through("CA-1"), await through("CA-1"), await through("CA-2")];
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.equal((a as unknown as { keepAlive: boolean }).keepAlive, true);
    assert.equal(a.options.ca, "CA-1");
  });
});
