import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { TrainingRun } from "@nnunet-operator/api";
import type { KubeObject } from "@nnunet-operator/kube";
import { FakeClock, FakeKubePort } from "@nnunet-operator/kube/testing";
import { parseOperatorConfig } from "../config.js";
import { makeJob, makeNode, makePod, makeRun } from "../testing/builders.js";
import type { Demand } from "./decide/admission.js";
import { AdmissionScheduler } from "./scheduler.js";
import { World } from "./world.js";

// The GPUs a finished fold gives back go to its own run's next step (validation) when that
// run is ahead in the queue, though the younger runs had published their wants first.

const config = parseOperatorConfig("");
const train: Demand[] = [{ kind: "train", fold: "0", gpus: 1 }];
const validate: Demand[] = [{ kind: "validate", fold: "0", gpus: 1 }];
const running = makeJob("old-fold-0").of("old", "train", "0").gpus(1).active().build();
const complete = makeJob("old-fold-0").of("old", "train", "0").gpus(1).complete().build();

function setup() {
  const clock = new FakeClock();
  const world = new World(new FakeKubePort(), config, (err) => {
    throw err;
  });
  const put = (kind: "runs" | "pods" | "nodes" | "claims", o: object) =>
    world.informers[kind].store.upsert({
      ...(o as KubeObject),
      metadata: { resourceVersion: "1", ...(o as KubeObject).metadata },
    });
  const old = makeRun().named("old").createdAt(0).build();
  const young = makeRun().named("young").createdAt(60).build();
  for (const r of [old, young]) put("runs", r);
  put("claims", {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: old.spec.storage.claimName, namespace: "team-a" },
  });
  put("nodes", makeNode("a").gpus(1).build());
  // old's fold 0 trained on a's only GPU and finished.
  put("pods", makePod("old-fold-0-x").of("old", "train", "0").gpus(1).on("a").succeeded().build());
  const changed: string[] = [];
  const scheduler = new AdmissionScheduler({
    world,
    config,
    clock,
    onChange: (key, granted) => changed.push(`${key}${granted ? " granted" : ""}`),
    onError: (err) => {
      throw err;
    },
  });
  const granted = (run: TrainingRun) => [...scheduler.admissionOf(`team-a/${run.metadata.name}`).admitted];
  return { clock, scheduler, old, young, granted, changed };
}

describe("AdmissionScheduler: GPUs a run's pod gave back", () => {
  it("are held for that run until its next pass publishes, and then go to its validation, ahead of a younger run", async () => {
    const { clock, scheduler, old, young, granted } = setup();
    scheduler.publish(young, train, { at: clock.now(), jobs: [] });
    scheduler.release("team-a/old", "a", 1, "old-fold-0");
    scheduler.cycle();
    assert.deepEqual(granted(young), [], "held for old");
    scheduler.publish(old, validate, { at: clock.now() - 1, jobs: [] });
    scheduler.cycle();
    assert.deepEqual(granted(young), [], "a pass that started before the pod ended does not free them");
    await clock.advance(1000);
    scheduler.publish(old, [], { at: clock.now(), jobs: [running] });
    scheduler.cycle();
    assert.deepEqual(granted(young), [], "a pass that saw the fold's Job still running does not free them");
    scheduler.publish(old, validate, { at: clock.now(), jobs: [complete] });
    scheduler.cycle();
    assert.deepEqual(granted(old), ["validate/0"]);
    assert.deepEqual(granted(young), []);
  });

  it("go to the queue when the run's next pass wants nothing more", async () => {
    const { clock, scheduler, old, young, granted } = setup();
    scheduler.publish(young, train, { at: clock.now(), jobs: [] });
    scheduler.release("team-a/old", "a", 1, "old-fold-0");
    await clock.advance(1000);
    scheduler.publish(old, [], { at: clock.now(), jobs: [] });
    scheduler.cycle();
    assert.deepEqual(granted(young), ["train/0"]);
  });

  it("go to the queue after 30 s when the run's pass never comes", async () => {
    const { clock, scheduler, young, granted } = setup();
    scheduler.publish(young, train, { at: clock.now(), jobs: [] });
    scheduler.release("team-a/old", "a", 1, "old-fold-0");
    scheduler.cycle();
    assert.deepEqual(granted(young), []);
    await clock.advance(30_001);
    scheduler.cycle();
    assert.deepEqual(granted(young), ["train/0"]);
  });

  it("are no one's once the run is deleted", async () => {
    const { scheduler, young, granted, clock } = setup();
    scheduler.publish(young, train, { at: clock.now(), jobs: [] });
    scheduler.release("team-a/old", "a", 1, "old-fold-0");
    scheduler.forget("team-a/old");
    scheduler.cycle();
    assert.deepEqual(granted(young), ["train/0"]);
  });
});
