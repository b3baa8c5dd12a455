import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { negotiate, parseRequestInfo } from "./request-info.js";

describe("request info", () => {
  const q = (s = "") => new URLSearchParams(s);
  const cases: [string, string, string, Record<string, unknown>][] = [
    [
      "GET",
      "/api/v1/namespaces/default/pods",
      "",
      { verb: "list", resource: "pods", namespace: "default", name: undefined },
    ],
    ["GET", "/api/v1/namespaces/default/pods", "watch=true", { verb: "watch" }],
    ["GET", "/api/v1/watch/namespaces/default/pods", "", { verb: "watch", watchPrefix: true }],
    [
      "GET",
      "/api/v1/namespaces/default",
      "",
      { verb: "get", resource: "namespaces", name: "default", namespace: "default" },
    ],
    [
      "PUT",
      "/api/v1/namespaces/default/status",
      "",
      { verb: "update", resource: "namespaces", name: "default", subresource: "status" },
    ],
    [
      "PATCH",
      "/apis/batch/v1/namespaces/ns/jobs/j/status",
      "",
      { verb: "patch", group: "batch", resource: "jobs", name: "j", subresource: "status" },
    ],
    ["DELETE", "/apis/batch/v1/namespaces/ns/jobs", "", { verb: "deletecollection" }],
    [
      "POST",
      "/apis/nnunet-operator.io/v1alpha1/namespaces/ns/trainingruns",
      "",
      { verb: "create", group: "nnunet-operator.io", version: "v1alpha1" },
    ],
    ["GET", "/api/v1/nodes/n1", "", { verb: "get", resource: "nodes", name: "n1", namespace: undefined }],
  ];
  for (const [method, path, query, want] of cases) {
    it(`${method} ${path}${query ? `?${query}` : ""}`, () => {
      const info = parseRequestInfo(method, path, q(query));
      assert.equal(info.kind, "resource");
      for (const [k, v] of Object.entries(want)) assert.equal((info as unknown as Record<string, unknown>)[k], v, k);
    });
  }
  for (const path of ["/version", "/apis", "/api", "/apis/batch", "/apis/batch/v1", "/openapi/v3"]) {
    it(`${path} is a non-resource request`, () => assert.equal(parseRequestInfo("GET", path, q()).kind, "nonresource"));
  }
});

describe("content negotiation", () => {
  const cases: [string | undefined, string | undefined][] = [
    [undefined, "json"],
    ["application/json", "json"],
    [
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
      "table",
    ],
    ["application/vnd.kubernetes.protobuf,application/json", "json"],
    ["application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "partial"],
    ["application/yaml", "yaml"],
    ["application/vnd.kubernetes.protobuf", undefined],
  ];
  for (const [accept, want] of cases)
    it(`${accept ?? "(none)"} -> ${want ?? "406"}`, () => assert.equal(negotiate(accept), want));
});
