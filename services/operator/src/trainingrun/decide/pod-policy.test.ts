import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseOperatorConfig } from "../../config.js";
import { makeRun } from "../../testing/builders.js";
import { checkPodPolicy } from "./pod-policy.js";

// Issue 17: a user who may only create TrainingRuns got a pod running busybox at priority
// system-cluster-critical. Images and priority classes now come from allowlists.

const config = parseOperatorConfig(`
images: { training: registry.example/nnunet:2.5 }
policy: { allowedImages: ["registry.example/nnunet-custom:*", "registry.example/nnunet:2.6"], allowedPriorityClasses: [research-high] }
`);

describe("pod policy: what a run author may choose for the operator's pods", () => {
  const cases: Array<{ name: string; spec: Record<string, unknown>; fields: string[] }> = [
    { name: "a run that chooses nothing is allowed", spec: {}, fields: [] },
    {
      name: "the default training image named explicitly is allowed",
      spec: { image: "registry.example/nnunet:2.5" },
      fields: [],
    },
    { name: "an image listed exactly is allowed", spec: { image: "registry.example/nnunet:2.6" }, fields: [] },
    {
      name: "an image under an allowed prefix is allowed",
      spec: { image: "registry.example/nnunet-custom:lab-7" },
      fields: [],
    },
    { name: "busybox is refused, naming spec.image", spec: { image: "busybox" }, fields: ["spec.image"] },
    {
      name: "a prefix does not stretch to a look-alike repository",
      spec: { image: "registry.example/nnunet:2.5-evil" },
      fields: ["spec.image"],
    },
    { name: "an allowed priority class is allowed", spec: { priorityClassName: "research-high" }, fields: [] },
    {
      name: "system-cluster-critical is refused, naming spec.priorityClassName",
      spec: { priorityClassName: "system-cluster-critical" },
      fields: ["spec.priorityClassName"],
    },
    {
      name: "both at once are both reported",
      spec: { image: "busybox", priorityClassName: "system-node-critical" },
      fields: ["spec.image", "spec.priorityClassName"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const errors = checkPodPolicy(makeRun().with(c.spec).build(), config);
      assert.deepEqual(
        errors.map((e) => e.field),
        c.fields,
      );
      for (const e of errors) assert.match(e.message, /not allowed by the operator's configuration .*; remove/);
    });
  }

  it("allows no priority class at all by default", () => {
    assert.deepEqual(
      checkPodPolicy(makeRun().with({ priorityClassName: "research-high" }).build(), parseOperatorConfig("")).map(
        (e) => e.field,
      ),
      ["spec.priorityClassName"],
    );
  });
});
