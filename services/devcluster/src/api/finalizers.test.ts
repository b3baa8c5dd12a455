import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { finalizerErrors, finalizerWarnings } from "./finalizers.js";
import { builtinResources, type KubeObject, type ResourceDef } from "./resources.js";

// What kube-apiserver answers for finalizer names, per kind of server: pkg/apis/core
// validation for built-ins, apimachinery's rule only for CRDs, warnings for custom resources.

const builtin = (resource: string) => builtinResources().find((d) => d.resource === resource)!;
const configmaps = builtin("configmaps");
const crds = builtin("customresourcedefinitions");
const custom: ResourceDef = {
  ...configmaps,
  group: "nnunet-operator.io",
  version: "v1alpha1",
  resource: "trainingruns",
  kind: "TrainingRun",
  custom: true,
};
const obj = (finalizers: string[]): KubeObject => ({
  apiVersion: "v1",
  kind: "X",
  metadata: { name: "x", finalizers },
});

describe("finalizer names", () => {
  const cases: { name: string; def: ResourceDef; finalizers: string[]; errors: string[] }[] = [
    {
      name: "the CRD's own cleanup finalizer on a CRD",
      def: crds,
      finalizers: ["customresourcecleanup.apiextensions.k8s.io"],
      errors: [],
    },
    {
      name: "a standard name on a ConfigMap",
      def: configmaps,
      finalizers: ["kubernetes", "foregroundDeletion"],
      errors: [],
    },
    { name: "a domain with a path on a ConfigMap", def: configmaps, finalizers: ["example.com/cleanup"], errors: [] },
    {
      name: "a domain without a path on a ConfigMap",
      def: configmaps,
      finalizers: ["example.com-cleanup"],
      errors: [
        'metadata.finalizers[0] "example.com-cleanup": name is neither a standard finalizer name nor is it fully qualified',
      ],
    },
    {
      name: "a domain without a path on a custom resource (a warning instead)",
      def: custom,
      finalizers: ["example.com-cleanup"],
      errors: [],
    },
    {
      name: "a name that is not a qualified name, on any kind",
      def: custom,
      finalizers: ["bad name"],
      errors: [
        `metadata.finalizers "bad name": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
      ],
    },
    {
      name: "orphan together with foregroundDeletion",
      def: configmaps,
      finalizers: ["orphan", "foregroundDeletion"],
      errors: [
        'metadata.finalizers ["orphan","foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set',
      ],
    },
  ];
  for (const c of cases) {
    it(`${c.errors.length ? "refuses" : "accepts"} ${c.name}`, () => {
      assert.deepEqual(
        finalizerErrors(c.def, c.finalizers).map((e) => `${e.field} ${JSON.stringify(e.value)}: ${e.detail}`),
        c.errors,
      );
    });
  }

  it("warns about each name without a path that a write adds to a custom resource, not about ones it kept", () => {
    assert.deepEqual(finalizerWarnings(custom, obj(["kept", "example.com-cleanup", "example.com/ok"]), obj(["kept"])), [
      'metadata.finalizers: "example.com-cleanup": prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers',
    ]);
    assert.deepEqual(finalizerWarnings(configmaps, obj(["kubernetes"]), undefined), []);
  });
});
