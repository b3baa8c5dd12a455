import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { LABEL_RUN } from "@nnunet-operator/api";
import { type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";
import { makeRun } from "../testing/builders.js";
import { TakenJobNames } from "./taken-names.js";

// A Job without the run label that holds a name the run needs: no watch event of the run's
// says when it goes, so every pass reads it again until it is gone or the run's own.

const run = makeRun().build(); // team-a/liver, uid-liver
const KEY = "team-a/liver";
const handMade = (labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name: "liver-fold-0", namespace: "team-a", labels },
});

describe("TakenJobNames", () => {
  it("shows a remembered Job on every pass while it is there, and lets go once it is deleted", async () => {
    const port = new FakeKubePort();
    const taken = new TakenJobNames(port);
    assert.deepEqual(await taken.recheck(KEY, run), [], "nothing remembered, nothing read");
    assert.equal(port.requests.length, 0);

    taken.remember(KEY, [await port.create(Resources.jobs, handMade({ [LABEL_RUN]: "other" }))]);
    for (let pass = 0; pass < 2; pass++)
      assert.deepEqual(
        (await taken.recheck(KEY, run)).map((j) => j.metadata?.name),
        ["liver-fold-0"],
      );

    await port.delete(Resources.jobs, { namespace: "team-a", name: "liver-fold-0" });
    assert.deepEqual(await taken.recheck(KEY, run), []);
    const reads = port.requests.length;
    assert.deepEqual(await taken.recheck(KEY, run), []);
    assert.equal(port.requests.length, reads, "forgotten: no more reads");
  });

  it("lets go of a Job that has become the run's own: the cache shows it from then on", async () => {
    const port = new FakeKubePort();
    const taken = new TakenJobNames(port);
    const job = await port.create(Resources.jobs, handMade());
    taken.remember(KEY, [job]);
    await port.patch(
      Resources.jobs,
      { namespace: "team-a", name: "liver-fold-0" },
      {
        metadata: {
          labels: { [LABEL_RUN]: "liver" },
          ownerReferences: [
            { apiVersion: "v1", kind: "TrainingRun", name: "liver", uid: "uid-liver", controller: true },
          ],
        },
      },
      { type: "merge" },
    );
    assert.deepEqual(await taken.recheck(KEY, run), []);
  });

  it("forgets a run's Jobs with the run", async () => {
    const port = new FakeKubePort();
    const taken = new TakenJobNames(port);
    taken.remember(KEY, [await port.create(Resources.jobs, handMade())]);
    taken.forget(KEY);
    assert.deepEqual(await taken.recheck(KEY, run), []);
  });
});
