import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from "./patch.js";
import { mergeSchemaForKind } from "./patch-schema.js";

const pod = {
  metadata: { name: "p", finalizers: ["a/x"] },
  spec: {
    containers: [
      { name: "main", image: "i:1", env: [{ name: "A", value: "1" }], volumeMounts: [{ name: "d", mountPath: "/d" }] },
      { name: "side", image: "s:1" },
    ],
    volumes: [{ name: "d", emptyDir: {} }],
    tolerations: [{ key: "gpu" }],
  },
};
const schema = mergeSchemaForKind("Pod");

describe("strategic merge patch on a pod", () => {
  const cases: { name: string; patch: unknown; check: (out: typeof pod) => void }[] = [
    {
      name: "merges a container by name and its env by name",
      patch: { spec: { containers: [{ name: "main", env: [{ name: "B", value: "2" }] }] } },
      check: (out) => {
        assert.deepEqual(
          out.spec.containers.map((c) => c.name),
          ["main", "side"],
        );
        // Without $setElementOrder upstream puts a new entry before those only the server has
        // (apimachinery strategicpatch mergeSortedSlice); kubectl apply sends the directive.
        assert.deepEqual(
          out.spec.containers[0]!.env!.map((e) => e.name),
          ["B", "A"],
        );
        assert.equal(out.spec.containers[0]!.image, "i:1");
      },
    },
    {
      name: "adds a new volume before the old one (no $setElementOrder) and keeps the old",
      patch: { spec: { volumes: [{ name: "shm", emptyDir: { medium: "Memory" } }] } },
      check: (out) =>
        assert.deepEqual(
          out.spec.volumes.map((v) => v.name),
          ["shm", "d"],
        ),
    },
    {
      name: "deletes an item with $patch: delete",
      patch: { spec: { containers: [{ name: "side", $patch: "delete" }] } },
      check: (out) =>
        assert.deepEqual(
          out.spec.containers.map((c) => c.name),
          ["main"],
        ),
    },
    {
      name: "replaces an atomic list (tolerations)",
      patch: { spec: { tolerations: [{ key: "other" }] } },
      check: (out) => assert.deepEqual(out.spec.tolerations, [{ key: "other" }]),
    },
    {
      name: "unions a set list (finalizers) and deletes from it with $deleteFromPrimitiveList",
      patch: { metadata: { finalizers: ["b/y"], "$deleteFromPrimitiveList/finalizers": ["a/x"] } },
      check: (out) => assert.deepEqual(out.metadata.finalizers, ["b/y"]),
    },
    {
      name: "orders containers by $setElementOrder",
      patch: { spec: { "$setElementOrder/containers": [{ name: "side" }, { name: "main" }] } },
      check: (out) =>
        assert.deepEqual(
          out.spec.containers.map((c) => c.name),
          ["side", "main"],
        ),
    },
    {
      name: "replaces one list item with $patch: replace on it",
      patch: { spec: { containers: [{ name: "main", $patch: "replace", image: "i:2" }] } },
      check: (out) =>
        assert.deepEqual(out.spec.containers, [
          { name: "main", image: "i:2" },
          { name: "side", image: "s:1" },
        ]),
    },
    {
      name: "replaces the whole list with a lone {$patch: replace} element",
      patch: { spec: { volumes: [{ $patch: "replace" }, { name: "only", emptyDir: {} }] } },
      check: (out) => assert.deepEqual(out.spec.volumes, [{ name: "only", emptyDir: {} }]),
    },
    {
      name: "removes a key with null",
      patch: { spec: { volumes: null } },
      check: (out) => assert.equal(out.spec.volumes, undefined),
    },
  ];
  for (const c of cases) it(c.name, () => c.check(applyStrategicMergePatch(pod, c.patch, schema) as typeof pod));

  it("refuses a list-map item without its merge key", () => {
    assert.throws(
      () => applyStrategicMergePatch(pod, { spec: { containers: [{ image: "x" }] } }, schema),
      /does not contain declared merge key/,
    );
  });
});

describe("JSON merge patch", () => {
  it("merges objects, deletes on null and replaces lists", () => {
    assert.deepEqual(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] }), {
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
});

describe("JSON patch", () => {
  const doc = { a: { b: [1, 2] } };
  const cases: [string, unknown[], unknown][] = [
    ["adds to an array end", [{ op: "add", path: "/a/b/-", value: 3 }], { a: { b: [1, 2, 3] } }],
    ["inserts into an array", [{ op: "add", path: "/a/b/0", value: 0 }], { a: { b: [0, 1, 2] } }],
    ["removes", [{ op: "remove", path: "/a/b/1" }], { a: { b: [1] } }],
    ["replaces", [{ op: "replace", path: "/a/b", value: [] }], { a: { b: [] } }],
    ["moves", [{ op: "move", from: "/a/b", path: "/c" }], { a: {}, c: [1, 2] }],
    ["copies", [{ op: "copy", from: "/a/b/0", path: "/a/x" }], { a: { b: [1, 2], x: 1 } }],
    [
      "tests then adds",
      [
        { op: "test", path: "/a/b/0", value: 1 },
        { op: "add", path: "/a/t", value: true },
      ],
      { a: { b: [1, 2], t: true } },
    ],
    ["escapes ~1 in keys", [{ op: "add", path: "/a/x~1y", value: 1 }], { a: { b: [1, 2], "x/y": 1 } }],
  ];
  for (const [name, ops, want] of cases) it(name, () => assert.deepEqual(applyJsonPatch(doc, ops), want));

  for (const [name, ops] of [
    ["a failing test", [{ op: "test", path: "/a/b/0", value: 9 }]],
    ["a missing path", [{ op: "remove", path: "/x/y" }]],
    ["an index out of range", [{ op: "add", path: "/a/b/9", value: 1 }]],
  ] as const) {
    it(`fails with 422 on ${name}`, () =>
      assert.throws(
        () => applyJsonPatch(doc, [...ops]),
        (e: unknown) => (e as { code?: number }).code === 422,
      ));
  }
});
