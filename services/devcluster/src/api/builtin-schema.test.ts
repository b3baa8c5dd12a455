import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { builtinDefinitionName, pruneUnknownFields } from "./builtin-schema.js";

// Unknown fields of built-in objects against the upstream definitions: found by the path
// the strict decoder prints, removed, and nothing else touched.

describe("unknown fields of built-in objects", () => {
  const cases: {
    name: string;
    kind: [string, string, string];
    object: Record<string, unknown>;
    unknown: string[];
    after?: Record<string, unknown>;
  }[] = [
    {
      name: "a typo in a Job's spec and in a container",
      kind: ["batch", "v1", "Job"],
      object: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "j" },
        spec: {
          backoffLimitt: 1,
          template: { spec: { containers: [{ name: "c", image: "x", imagePullPolicyy: "Never" }] } },
        },
      },
      unknown: ["spec.backoffLimitt", "spec.template.spec.containers[0].imagePullPolicyy"],
      after: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "j" },
        spec: { template: { spec: { containers: [{ name: "c", image: "x" }] } } },
      },
    },
    {
      name: "map values (labels, ConfigMap data, resource limits) are never unknown",
      kind: ["", "v1", "Pod"],
      object: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "p", labels: { anything: "x" } },
        spec: { containers: [{ name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "1" } } }] },
      },
      unknown: [],
    },
    {
      name: "managedFields' fieldsV1 and a RawExtension keep whatever they hold",
      kind: ["", "v1", "ConfigMap"],
      object: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: "c",
          managedFields: [{ manager: "m", fieldsType: "FieldsV1", fieldsV1: { "f:data": { "f:x": {} } } }],
        },
        data: { x: "y" },
      },
      unknown: [],
    },
    {
      name: "a CRD's schema keeps its JSON-typed defaults and examples",
      kind: ["apiextensions.k8s.io", "v1", "CustomResourceDefinition"],
      object: {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: "x" },
        spec: {
          versions: [
            {
              name: "v1",
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    a: { type: "object", default: { free: "form" }, "x-kubernetes-preserve-unknown-fields": true },
                  },
                },
              },
            },
          ],
          bogus: true,
        },
      },
      unknown: ["spec.bogus"],
    },
  ];
  for (const c of cases) {
    it(`finds ${c.unknown.length ? c.unknown.join(" and ") : "nothing"} in ${c.name}`, () => {
      const name = builtinDefinitionName({ group: c.kind[0], version: c.kind[1], kind: c.kind[2] });
      assert.ok(name, "an upstream definition exists");
      const object = structuredClone(c.object);
      assert.deepEqual(pruneUnknownFields(name, object), c.unknown);
      assert.deepEqual(object, c.after ?? (c.unknown.length ? object : c.object));
    });
  }

  it("has no definition for custom kinds or for kinds listing several GVKs", () => {
    assert.equal(
      builtinDefinitionName({ group: "nnunet-operator.io", version: "v1alpha1", kind: "TrainingRun" }),
      undefined,
    );
    assert.equal(builtinDefinitionName({ group: "", version: "v1", kind: "DeleteOptions" }), undefined);
    assert.equal(
      builtinDefinitionName({ group: "apps", version: "v1", kind: "Deployment" }),
      "io.k8s.api.apps.v1.Deployment",
    );
  });
});
