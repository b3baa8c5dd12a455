import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ResourceCatalog, builtinResources } from "../api/resources.js";
import { openApiGvDocument, openApiV2 } from "./openapi.js";
import { encodeOpenApiV2 } from "./openapi-proto.js";

// The published documents: upstream definitions for built-ins with everything they
// reference, v3 references rewritten, and the v2 protobuf carrying every definition.

describe("OpenAPI documents", () => {
  const catalog = new ResourceCatalog(builtinResources());
  const noInfo = () => undefined;

  it("publishes batch/v1 with the upstream Job and the core schemas it references, refs in v3 form", () => {
    const doc = openApiGvDocument(catalog, "batch", "v1", noInfo) as {
      components: { schemas: Record<string, Record<string, unknown>> };
    };
    const schemas = doc.components.schemas;
    assert.ok(schemas["io.k8s.api.batch.v1.Job"], "the Job definition");
    assert.ok(schemas["io.k8s.api.core.v1.PodSpec"], "what JobSpec reaches through the pod template");
    assert.ok(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]);
    assert.ok(!JSON.stringify(schemas).includes("#/definitions/"), "references point into components");
    assert.deepEqual(schemas["io.k8s.api.batch.v1.Job"]!["x-kubernetes-group-version-kind"], [
      { group: "batch", kind: "Job", version: "v1" },
    ]);
  });

  it("answers nothing for a group-version the catalog does not serve", () => {
    assert.equal(openApiGvDocument(catalog, "example.com", "v1", noInfo), undefined);
  });

  it("encodes the v2 document as gnostic protobuf with every definition name and its description", () => {
    const v2 = openApiV2(catalog, noInfo);
    const pb = encodeOpenApiV2(v2);
    assert.equal(pb[0], 0x0a, "field 1 (swagger) comes first");
    assert.equal(pb.subarray(2, 5).toString(), "2.0");
    const text = pb.toString("latin1");
    for (const name of [
      "io.k8s.api.core.v1.Pod",
      "io.k8s.api.batch.v1.JobSpec",
      "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    ])
      assert.ok(text.includes(name), name);
    assert.ok(text.includes("x-kubernetes-group-version-kind"), "vendor extensions travel as NamedAny");
    assert.ok(Object.keys(v2.definitions).length > 400);
  });
});
