import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";
import { parseOperatorConfig } from "../config.js";
import { World } from "./world.js";

// What the operator lists and watches, by namespace: with watchNamespaces it needs no
// cluster-wide access to anything of a run's (its Roles cover those namespaces only), and
// still sees every pod and node for GPU capacity.

async function watchedScopes(watchNamespaces: string[]): Promise<string[]> {
  const port = new FakeKubePort();
  const world = new World(port, parseOperatorConfig(JSON.stringify({ watchNamespaces })), (err) => {
    throw err;
  });
  const stop = new AbortController();
  const running = world.run(stop.signal);
  assert.equal(await world.waitForSync(stop.signal), true);
  stop.abort();
  await running;
  return port.requests
    .filter((r) => r.verb === "watch")
    .map((r) => `${r.resource} ${(r.options as { namespace?: string }).namespace ?? "*"}`)
    .sort();
}

describe("World", () => {
  it("watches everything cluster-wide when no namespaces are named", async () => {
    assert.deepEqual(await watchedScopes([]), [
      "configmaps *",
      "jobs.batch *",
      "nodes *",
      "persistentvolumeclaims *",
      "pods *",
      "trainingruns.nnunet-operator.io *",
    ]);
  });

  it("watches runs, Jobs, claims and the cache in each named namespace, and pods and nodes cluster-wide", async () => {
    assert.deepEqual(await watchedScopes(["team-a", "team-b"]), [
      "configmaps team-a",
      "configmaps team-b",
      "jobs.batch team-a",
      "jobs.batch team-b",
      "nodes *",
      "persistentvolumeclaims team-a",
      "persistentvolumeclaims team-b",
      "pods *",
      "trainingruns.nnunet-operator.io team-a",
      "trainingruns.nnunet-operator.io team-b",
    ]);
  });

  it("caches no run of a namespace it does not watch", async () => {
    const port = new FakeKubePort();
    for (const namespace of ["team-a", "team-z"])
      await port.create(Resources.trainingRuns, {
        apiVersion: "nnunet-operator.io/v1alpha1",
        kind: "TrainingRun",
        metadata: { name: "liver", namespace },
      });
    const world = new World(port, parseOperatorConfig("watchNamespaces: [team-a]"), (err) => {
      throw err;
    });
    const stop = new AbortController();
    const running = world.run(stop.signal);
    await world.waitForSync(stop.signal);
    stop.abort();
    await running;
    assert.deepEqual(
      world.runs().map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
      ["team-a/liver"],
    );
  });
});
