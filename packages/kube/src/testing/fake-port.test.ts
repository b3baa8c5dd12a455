import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isAlreadyExists, isConflict, isNotFound } from "../errors.js";
import { type KubeObject, Resources, type WatchEvent } from "../port.js";
import { FakeKubePort, mergePatch } from "./fake-port.js";

describe("mergePatch (RFC 7386)", () => {
  const cases: Array<[string, unknown, unknown, unknown]> = [
    ["merges nested objects", { a: { b: 1, c: 2 } }, { a: { c: 3 } }, { a: { b: 1, c: 3 } }],
    ["deletes a key patched to null", { a: 1, b: 2 }, { b: null }, { a: 1 }],
    ["replaces arrays whole", { a: [1, 2] }, { a: [3] }, { a: [3] }],
    ["replaces a scalar by an object", { a: 1 }, { a: { b: 1 } }, { a: { b: 1 } }],
  ];
  for (const [name, target, patch, expected] of cases)
    it(name, () => assert.deepEqual(mergePatch(target, patch), expected));
});

describe("FakeKubePort", () => {
  const job = (): KubeObject => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { namespace: "ns", name: "r-fold-0" },
    spec: { suspend: false },
  });

  it("behaves like the API server on create, get, patch with a stale resourceVersion and delete", async () => {
    const port = new FakeKubePort();
    const created = await port.create(Resources.jobs, job());
    assert.ok(created.metadata.uid);
    await assert.rejects(port.create(Resources.jobs, job()), isAlreadyExists);
    const patched = await port.patch(
      Resources.jobs,
      { namespace: "ns", name: "r-fold-0" },
      { metadata: { resourceVersion: created.metadata.resourceVersion }, spec: { suspend: true } },
      { type: "merge" },
    );
    assert.equal((patched.spec as { suspend: boolean }).suspend, true);
    assert.equal(patched.metadata.generation, 2, "a spec change bumps the generation");
    await assert.rejects(
      port.patch(
        Resources.jobs,
        { namespace: "ns", name: "r-fold-0" },
        { metadata: { resourceVersion: created.metadata.resourceVersion } },
        { type: "merge" },
      ),
      isConflict,
    );
    await assert.rejects(
      port.delete(Resources.jobs, { namespace: "ns", name: "r-fold-0" }, { preconditions: { uid: "another" } }),
      isConflict,
      "a delete by uid leaves another object of that name alone",
    );
    await port.delete(
      Resources.jobs,
      { namespace: "ns", name: "r-fold-0" },
      { preconditions: { uid: created.metadata.uid! } },
    );
    await assert.rejects(port.get(Resources.jobs, { namespace: "ns", name: "r-fold-0" }), isNotFound);
  });

  it("writes only status through patchStatus and never status through patch", async () => {
    const port = new FakeKubePort();
    await port.create(Resources.trainingRuns, { metadata: { namespace: "ns", name: "r" }, spec: { a: 1 } });
    await port.patchStatus(
      Resources.trainingRuns,
      { namespace: "ns", name: "r" },
      { spec: { a: 2 }, status: { phase: "Running" } },
      { type: "merge" },
    );
    await port.patch(
      Resources.trainingRuns,
      { namespace: "ns", name: "r" },
      { status: { phase: "Hacked" } },
      { type: "merge" },
    );
    const run = await port.get(Resources.trainingRuns, { namespace: "ns", name: "r" });
    assert.deepEqual([run.spec, run.status], [{ a: 1 }, { phase: "Running" }]);
  });

  it("feeds watchers of the resource and namespace with every write", async () => {
    const port = new FakeKubePort();
    const events: string[] = [];
    const controller = new AbortController();
    const watching = port.watch(
      Resources.jobs,
      { namespace: "ns" },
      (e: WatchEvent) => events.push(`${e.type} ${e.object.metadata.name}`),
      controller.signal,
    );
    await port.create(Resources.jobs, job());
    await port.create(Resources.jobs, { ...job(), metadata: { namespace: "other", name: "x" } });
    await port.create(Resources.pods, { metadata: { namespace: "ns", name: "p" } });
    await port.delete(Resources.jobs, { namespace: "ns", name: "r-fold-0" });
    controller.abort();
    await watching;
    assert.deepEqual(events, ["ADDED r-fold-0", "DELETED r-fold-0"]);
  });

  it("records requests and fails the next request of a verb on demand", async () => {
    const port = new FakeKubePort();
    port.failNext("list", new Error("boom"));
    await assert.rejects(port.list(Resources.jobs), /boom/);
    await port.list(Resources.jobs, { labelSelector: "a=b" });
    assert.deepEqual(
      port.requests.map((r) => r.verb),
      ["list", "list"],
    );
    assert.deepEqual(port.writes(), []);
  });
});
