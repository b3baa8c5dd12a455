import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeObject } from "./port.js";
import { ObjectStore } from "./store.js";

function pod(ns: string, name: string, rv: string, extra: Partial<KubeObject["metadata"]> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Pod", metadata: { namespace: ns, name, resourceVersion: rv, ...extra } };
}

describe("ObjectStore", () => {
  it("reports an add, then an update only when the resourceVersion changed", () => {
    const store = new ObjectStore();
    assert.equal(store.upsert(pod("a", "p", "1"))?.type, "added");
    assert.equal(store.upsert(pod("a", "p", "1")), undefined, "same version: no change");
    const change = store.upsert(pod("a", "p", "2"));
    assert.equal(change?.type, "updated");
    assert.equal(change?.type === "updated" && change.old.metadata.resourceVersion, "1");
    assert.equal(store.get("a/p")?.metadata.resourceVersion, "2");
  });

  it("keys cluster-scoped objects by name alone", () => {
    const store = new ObjectStore();
    store.upsert({ kind: "Node", metadata: { name: "gpu-1", resourceVersion: "1" } });
    assert.ok(store.get("gpu-1"));
  });

  const indexCases: Array<[string, (s: ObjectStore) => KubeObject[], string[]]> = [
    ["finds objects by namespace", (s) => s.list("team-b"), ["q"]],
    ["finds objects by label equality", (s) => s.byLabel("nnunet-operator.io/run", "r1"), ["p", "q"]],
    ["finds objects by owner uid", (s) => s.byOwner("uid-job-1"), ["p"]],
    ["finds nothing for an unknown index value", (s) => s.byOwner("nobody"), []],
  ];
  for (const [name, query, expected] of indexCases) {
    it(name, () => {
      const store = new ObjectStore();
      store.upsert(
        pod("team-a", "p", "1", {
          labels: { "nnunet-operator.io/run": "r1" },
          ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "j", uid: "uid-job-1" }],
        }),
      );
      store.upsert(pod("team-b", "q", "1", { labels: { "nnunet-operator.io/run": "r1" } }));
      store.upsert(pod("team-a", "r", "1", { labels: { "nnunet-operator.io/run": "r2" } }));
      assert.deepEqual(
        query(store)
          .map((o) => o.metadata.name)
          .sort(),
        expected,
      );
    });
  }

  it("moves an object between index values when its labels change", () => {
    const store = new ObjectStore();
    store.upsert(pod("a", "p", "1", { labels: { role: "train" } }));
    store.upsert(pod("a", "p", "2", { labels: { role: "validate" } }));
    assert.deepEqual(store.byLabel("role", "train"), []);
    assert.equal(store.byLabel("role", "validate").length, 1);
  });

  it("turns a re-list into deletions of vanished objects, then adds and updates", () => {
    const store = new ObjectStore();
    store.replace([pod("a", "keep", "1"), pod("a", "change", "1"), pod("a", "gone", "1")]);
    const changes = store.replace([pod("a", "keep", "1"), pod("a", "change", "2"), pod("a", "new", "1")]);
    assert.deepEqual(
      changes.map((c) => `${c.type} ${c.object.metadata.name}`),
      ["deleted gone", "updated change", "added new"],
    );
    assert.deepEqual(store.keys().sort(), ["a/change", "a/keep", "a/new"]);
    assert.deepEqual(store.byIndex("namespace", "a").length, 3);
  });

  it("replaces only the listed namespace's objects when a re-list is of one namespace", () => {
    const store = new ObjectStore();
    store.replace([pod("team-a", "p", "1"), pod("team-b", "q", "1")]);
    const changes = store.replace([pod("team-a", "r", "1")], "team-a");
    assert.deepEqual(
      changes.map((c) => `${c.type} ${c.object.metadata.namespace}/${c.object.metadata.name}`),
      ["deleted team-a/p", "added team-a/r"],
    );
    assert.deepEqual(store.keys().sort(), ["team-a/r", "team-b/q"]);
  });

  it("reports a delete once and forgets the object's index entries", () => {
    const store = new ObjectStore();
    store.upsert(pod("a", "p", "1", { labels: { x: "y" } }));
    assert.equal(store.remove(pod("a", "p", "2"))?.type, "deleted");
    assert.equal(store.remove(pod("a", "p", "2")), undefined);
    assert.deepEqual(store.byLabel("x", "y"), []);
    assert.equal(store.size, 0);
  });
});
