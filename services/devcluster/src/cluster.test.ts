import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { Cluster } from "./cluster.js";
import { assertNoUnexpectedFailures } from "./sim/controller-failures.js";

// The in-process surface part 2's controllers use: create, list, watch and delete
// without HTTP, through the same registry semantics.

describe("in-process cluster", () => {
  it("lists by label and watches a namespace, with the same semantics as over HTTP", async () => {
    const cluster = new Cluster();
    await cluster.start();
    const pods = cluster.resource("", "v1", "pods");
    const seen: string[] = [];
    const stop = cluster.watch(pods, (e) => seen.push(`${e.type} ${e.object.metadata.name}`), { namespace: "default" });
    await cluster.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "a", labels: { role: "train" } },
      spec: { containers: [{ name: "c", image: "i" }] },
    });
    await cluster.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "b", namespace: "kube-system" },
      spec: { containers: [{ name: "c", image: "i" }] },
    });
    assert.deepEqual(
      cluster.list(pods, "default", "role=train").map((p) => p.metadata.name),
      ["a"],
    );
    assert.deepEqual(
      cluster.list(pods).map((p) => p.metadata.name),
      ["a", "b"],
    );
    await cluster.delete(pods, "default", "a");
    stop();
    cluster.stop();
    assert.deepEqual(seen, ["ADDED a", "DELETED a"]);
    assertNoUnexpectedFailures({
      controllerFailures: () => cluster.controllerFailures.list(),
      controllerFailureCounts: () => cluster.controllerFailures.counts(),
    });
  });
});
