import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { validateImmutable } from "./immutability.js";
import { builtinResources, type KubeObject } from "./resources.js";

const defs = builtinResources();
const podDef = defs.find((d) => d.resource === "pods")!;
const jobDef = defs.find((d) => d.resource === "jobs")!;
const pod = (spec: object): KubeObject => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec });
const base = {
  containers: [{ name: "c", image: "i:1" }],
  tolerations: [{ key: "a" }],
  terminationGracePeriodSeconds: 30,
};

describe("pod updates", () => {
  const cases: [string, object, boolean][] = [
    ["a new container image", { ...base, containers: [{ name: "c", image: "i:2" }] }, true],
    ["an added toleration", { ...base, tolerations: [{ key: "a" }, { key: "b" }] }, true],
    ["a changed grace period", { ...base, terminationGracePeriodSeconds: 5 }, true],
    ["an activeDeadlineSeconds", { ...base, activeDeadlineSeconds: 60 }, true],
    ["a removed toleration", { ...base, tolerations: [] }, false],
    ["a new volume", { ...base, volumes: [{ name: "v", emptyDir: {} }] }, false],
    ["a nodeName (binding's job)", { ...base, nodeName: "n1" }, false],
    ["a changed env", { ...base, containers: [{ name: "c", image: "i:1", env: [{ name: "X", value: "1" }] }] }, false],
  ];
  for (const [name, spec, allowed] of cases) {
    it(`${allowed ? "allows" : "forbids"} ${name}`, () => {
      assert.equal(validateImmutable(podDef, pod(base), pod(spec)).length === 0, allowed);
    });
  }
});

describe("job updates", () => {
  const job = (spec: object, status: object = {}): KubeObject => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "j" },
    spec,
    status,
  });
  const template = {
    metadata: { labels: { a: "1" } },
    spec: { containers: [{ name: "c", image: "i" }], nodeSelector: { gpu: "x" } },
  };
  const cases: [string, KubeObject, KubeObject, string[]][] = [
    ["suspending", job({ template, completions: 1 }), job({ template, completions: 1, suspend: true }), []],
    [
      "a changed completions",
      job({ template, completions: 1 }),
      job({ template, completions: 2 }),
      ["spec.completions"],
    ],
    [
      "a changed container while running",
      job({ template }),
      job({ template: { ...template, spec: { ...template.spec, containers: [{ name: "c", image: "j" }] } } }),
      ["spec.template"],
    ],
    [
      "a changed nodeSelector while suspended and never started",
      job({ template, suspend: true }),
      job({ template: { ...template, spec: { ...template.spec, nodeSelector: { gpu: "y" } } }, suspend: true }),
      [],
    ],
    [
      "a changed nodeSelector after it started",
      job({ template, suspend: true }, { startTime: "2026-01-01T00:00:00Z" }),
      job({ template: { ...template, spec: { ...template.spec, nodeSelector: { gpu: "y" } } }, suspend: true }),
      ["spec.template"],
    ],
  ];
  for (const [name, before, after, fields] of cases) {
    it(`${fields.length ? "refuses" : "allows"} ${name}`, () => {
      assert.deepEqual(
        validateImmutable(jobDef, before, after).map((e) => e.field),
        fields,
      );
    });
  }
});
