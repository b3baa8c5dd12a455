import { strict as assert } from "node:assert";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import type { DevCluster } from "../server.js";
import { withDevCluster } from "../test-support.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";

// Bad requests get the status code and metav1.Status body the real server sends, and no
// request, however malformed, crashes the emulator or changes its store.

interface Reply {
  code: number;
  body: { kind?: string; reason?: string; message?: string; code?: number } & Record<string, unknown>;
}

function send(
  dc: DevCluster,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${dc.url}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${dc.adminToken}`,
          ...(body !== undefined ? { "content-length": String(Buffer.byteLength(body)) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: Reply["body"] = {};
          try {
            parsed = JSON.parse(text) as Reply["body"];
          } catch {
            parsed = { raw: text };
          }
          resolve({ code: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const json = { "content-type": "application/json" };
const pods = "/api/v1/namespaces/default/pods";

describe("robustness against bad requests", () => {
  let dc: DevCluster;
  before(async () => {
    ({ dc } = await withDevCluster({ tls: false }));
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  const cases: {
    name: string;
    method: string;
    path: string;
    body?: string;
    headers?: Record<string, string>;
    code: number;
    reason: string;
    message?: RegExp;
  }[] = [
    {
      name: "malformed JSON",
      method: "POST",
      path: pods,
      body: "{not json",
      headers: json,
      code: 400,
      reason: "BadRequest",
      message: /json parse error/,
    },
    {
      name: "malformed YAML",
      method: "POST",
      path: pods,
      body: "metadata: [unclosed",
      headers: { "content-type": "application/yaml" },
      code: 400,
      reason: "BadRequest",
      message: /error converting YAML to JSON/,
    },
    {
      name: "a JSON array as an object",
      method: "POST",
      path: pods,
      body: "[1,2]",
      headers: json,
      code: 400,
      reason: "BadRequest",
    },
    { name: "an empty body", method: "POST", path: pods, body: "", headers: json, code: 400, reason: "BadRequest" },
    {
      name: "an unknown resource",
      method: "GET",
      path: "/api/v1/namespaces/default/widgets",
      code: 404,
      reason: "NotFound",
      message: /^the server could not find the requested resource$/,
    },
    { name: "an unknown group", method: "GET", path: "/apis/example.com/v1/things", code: 404, reason: "NotFound" },
    { name: "an unknown subresource", method: "GET", path: `${pods}/x/exec2`, code: 404, reason: "NotFound" },
    {
      name: "a wrong content type",
      method: "POST",
      path: pods,
      body: "<pod/>",
      headers: { "content-type": "application/xml" },
      code: 415,
      reason: "UnsupportedMediaType",
    },
    {
      name: "a wrong patch type",
      method: "PATCH",
      path: `${pods}/x`,
      body: "{}",
      headers: json,
      code: 415,
      reason: "UnsupportedMediaType",
      message:
        /application\/json-patch\+json, application\/merge-patch\+json, application\/apply-patch\+yaml, application\/strategic-merge-patch\+json/,
    },
    {
      name: "a kind that does not match the URL",
      method: "POST",
      path: pods,
      body: JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "k" } }),
      headers: json,
      code: 400,
      reason: "BadRequest",
      message: /kind in the data \(Secret\) does not match/,
    },
    {
      name: "an invalid name",
      method: "POST",
      path: "/api/v1/namespaces/default/configmaps",
      body: JSON.stringify({ metadata: { name: "UPPER" } }),
      headers: json,
      code: 422,
      reason: "Invalid",
    },
    {
      name: "a name longer than 253 characters",
      method: "POST",
      path: "/api/v1/namespaces/default/configmaps",
      body: JSON.stringify({ metadata: { name: "a".repeat(254) } }),
      headers: json,
      code: 422,
      reason: "Invalid",
    },
    {
      name: "a PUT to a collection",
      method: "PUT",
      path: pods,
      body: "{}",
      headers: json,
      code: 405,
      reason: "MethodNotAllowed",
    },
    {
      name: "a POST to a named object",
      method: "POST",
      path: `${pods}/x`,
      body: "{}",
      headers: json,
      code: 405,
      reason: "MethodNotAllowed",
    },
    {
      name: "a bad label selector",
      method: "GET",
      path: `${pods}?labelSelector=a%20in%20(b`,
      code: 400,
      reason: "BadRequest",
    },
    {
      name: "a bad continue token",
      method: "GET",
      path: `${pods}?limit=1&continue=%%%`,
      code: 400,
      reason: "BadRequest",
    },
    {
      name: "a resourceVersion from the future",
      method: "GET",
      path: `${pods}?resourceVersion=999999999`,
      code: 504,
      reason: "Timeout",
    },
    {
      name: "an unsupported fieldValidation",
      method: "POST",
      path: pods,
      body: "{}",
      headers: json,
      code: 400,
      reason: "BadRequest",
    },
    {
      name: "a bad JSON patch",
      method: "PATCH",
      path: "/api/v1/namespaces/default/configmaps/victim",
      body: '{"op":"add"}',
      headers: { "content-type": "application/json-patch+json" },
      code: 400,
      reason: "BadRequest",
    },
    {
      name: "a JSON patch on a missing path",
      method: "PATCH",
      path: "/api/v1/namespaces/default/configmaps/victim",
      body: '[{"op":"replace","path":"/nope/x","value":1}]',
      headers: { "content-type": "application/json-patch+json" },
      code: 422,
      reason: "Invalid",
    },
    {
      name: "an unacceptable Accept header",
      method: "GET",
      path: pods,
      headers: { accept: "application/vnd.kubernetes.protobuf" },
      code: 406,
      reason: "NotAcceptable",
    },
  ];
  cases[17]!.path = `${pods}?fieldValidation=Loose`;

  for (const c of cases) {
    it(`answers ${c.name} with ${c.code} ${c.reason}`, async () => {
      await send(
        dc,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        JSON.stringify({ metadata: { name: "victim" }, data: { k: "v" } }),
        json,
      );
      const rvBefore = dc.cluster.store.currentRV();
      const r = await send(dc, c.method, c.path, c.body, c.headers);
      assert.equal(r.code, c.code, JSON.stringify(r.body));
      assert.equal(r.body.kind, "Status");
      assert.equal(r.body.reason, c.reason);
      assert.equal(r.body.code, c.code);
      if (c.message) assert.match(r.body.message ?? "", c.message);
      assert.equal(dc.cluster.store.currentRV(), rvBefore, "the store did not change");
    });
  }

  it("refuses a body over 3 MiB with 413 and stays up", async () => {
    const big = JSON.stringify({ metadata: { name: "big" }, data: { blob: "x".repeat(3 * 1024 * 1024) } });
    const r = await send(dc, "POST", "/api/v1/namespaces/default/configmaps", big, json);
    assert.equal(r.code, 413);
    assert.equal(r.body.reason, "RequestEntityTooLarge");
    assert.equal((await send(dc, "GET", "/version")).code, 200);
  });

  it("server-side applies a YAML body", async () => {
    const yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  mode: fast\n";
    const r = await send(
      dc,
      "PATCH",
      "/api/v1/namespaces/default/configmaps/from-yaml?fieldManager=yaml-applier",
      yaml,
      { "content-type": "application/apply-patch+yaml" },
    );
    assert.equal(r.code, 201);
    assert.deepEqual(r.body["data"], { mode: "fast" });
    const again = await send(
      dc,
      "PATCH",
      "/api/v1/namespaces/default/configmaps/from-yaml?fieldManager=yaml-applier",
      yaml.replace("fast", "slow"),
      { "content-type": "application/apply-patch+yaml" },
    );
    assert.equal(again.code, 200);
    assert.deepEqual(again.body["data"], { mode: "slow" });
  });

  it("refuses nesting deeper than 1000 levels with 400", async () => {
    const deep = `{"metadata":{"name":"deep"},"data":${"[".repeat(5000)}${"]".repeat(5000)}}`;
    const r = await send(dc, "POST", "/api/v1/namespaces/default/configmaps", deep, json);
    assert.equal(r.code, 400);
    assert.match(r.body.message ?? "", /exceeded max depth/);
  });

  it("treats __proto__ keys as plain unknown data, never as a prototype", async () => {
    const body =
      '{"metadata":{"name":"proto","labels":{"__proto__":{"polluted":"yes"}}},"data":{"__proto__":{"x":"1"},"k":"v"}}';
    const r = await send(dc, "POST", "/api/v1/namespaces/default/configmaps", body, json);
    assert.equal(r.code, 201);
    const patched = await send(
      dc,
      "PATCH",
      "/api/v1/namespaces/default/configmaps/proto",
      '{"data":{"__proto__":{"y":"2"}}}',
      { "content-type": "application/merge-patch+json" },
    );
    assert.equal(patched.code, 200);
    assert.deepEqual(patched.body["data"], { k: "v" });
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
  });

  it("answers 401 Unauthorized with a Status for an unknown bearer token", async () => {
    const r = await send(dc, "GET", pods, undefined, { authorization: "Bearer nope" });
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Unauthorized",
      reason: "Unauthorized",
      code: 401,
    });
  });

  it("survives a storm of random requests without a 5xx or a crash", async () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    const paths = [
      "/api/v1/namespaces/default/pods",
      "/api/v1/namespaces/default/pods/p",
      "/apis/batch/v1/namespaces/default/jobs",
      "/apis/nnunet-operator.io/v1alpha1/namespaces/default/trainingruns/t",
      "/api/v1/nodes/n/status",
      "/apis/%zz",
      "/api/v1/namespaces/%2F/pods",
      "/api/v1/watch/namespaces/default/pods?timeoutSeconds=0",
    ];
    const bodies = [
      "{",
      "null",
      "[]",
      '{"metadata":null}',
      '{"metadata":{"name":5}}',
      '{"metadata":{"name":"ok","labels":{"a":5}}}',
      '{"spec":{"containers":"x"},"metadata":{"name":"p"}}',
      "\u0000\u0001",
      '{"apiVersion":"nnunet-operator.io/v1alpha1","kind":"TrainingRun","metadata":{"name":"t"},"spec":{"folds":"x"}}',
      '[{"op":"move","from":"/a","path":"/b"}]',
    ];
    const types = [
      "application/json",
      "application/yaml",
      "application/merge-patch+json",
      "application/json-patch+json",
      "application/strategic-merge-patch+json",
      "application/apply-patch+yaml",
      "text/plain",
    ];
    for (let i = 0; i < 150; i++) {
      const r = await send(dc, pick(["GET", "POST", "PUT", "PATCH", "DELETE"]), pick(paths), pick(bodies), {
        "content-type": pick(types),
      });
      assert.ok(r.code < 500 && r.code > 0, `request ${i} got ${r.code}: ${JSON.stringify(r.body)}`);
    }
    assert.equal((await send(dc, "GET", "/version")).code, 200);
  });
});
