import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeObject } from "@nnunet-operator/kube";
import { FakeClock } from "@nnunet-operator/kube/testing";
import { parseOperatorConfig } from "../config.js";
import { makeNode, makeRun } from "../testing/builders.js";
import type { Demand } from "./decide/admission.js";
import { AdmissionScheduler, type CycleStats } from "./scheduler.js";
import { World } from "./world.js";

// The admission loop over a World whose caches the test fills by hand (no informer runs).

const config = parseOperatorConfig("namespace: nnunet-system");
const folds = (n: number, gpus = 1): Demand[] =>
  Array.from({ length: n }, (_, f) => ({ kind: "train", fold: String(f), gpus }));

function cluster(nodes: number, sliceAboveObjects?: number) {
  const unused = () => {
    throw new Error("the test fills the caches itself");
  };
  const world = new World({ list: unused, watch: unused }, config, () => {});
  for (let i = 0; i < nodes; i++) world.informers.nodes.store.upsert(makeNode(`gpu-${i}`).build() as KubeObject);
  world.informers.claims.store.upsert({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "nnunet-data", namespace: "team-a", resourceVersion: "1" },
  });
  const cycles: CycleStats[] = [];
  const errors: unknown[] = [];
  const scheduler = new AdmissionScheduler({
    world,
    config,
    clock: new FakeClock(),
    onChange: () => {},
    onError: (err) => errors.push(err),
    ...(sliceAboveObjects !== undefined ? { sliceAboveObjects } : {}),
  });
  scheduler.onCycleEnd = (c) => cycles.push(c);
  return {
    world,
    scheduler,
    cycles,
    errors,
    publish(name: string, createdAt: number, wants: Demand[]) {
      const run = makeRun().named(name).createdAt(createdAt).build();
      world.remember("runs", { ...run, metadata: { ...run.metadata, resourceVersion: "1" } } as KubeObject);
      scheduler.publish(run, wants);
    },
    remove(name: string) {
      world.informers.runs.store.remove({ metadata: { name, namespace: "team-a" } } as KubeObject);
      scheduler.forget(`team-a/${name}`);
    },
    /** Runs a cycle and waits for its end, however many slices it takes. */
    async cycle() {
      const before = cycles.length;
      scheduler.cycle();
      while (cycles.length === before) await new Promise((r) => setImmediate(r));
    },
    granted: (name: string) => [...scheduler.admissionOf(`team-a/${name}`).admitted].sort(),
  };
}

describe("the admission loop", () => {
  it("decides the same in slices as at once: the same grants, waits and queue positions", async () => {
    const outcomes = [];
    for (const slice of [undefined, 0]) {
      const c = cluster(3, slice);
      for (let i = 0; i < 5; i++) c.publish(`run-${i}`, i, folds(5));
      await c.cycle();
      assert.deepEqual(c.errors, []);
      outcomes.push({
        slices: c.cycles[0]!.slices,
        runs: Array.from({ length: 5 }, (_, i) => {
          const a = c.scheduler.admissionOf(`team-a/run-${i}`);
          return { admitted: [...a.admitted].sort(), wait: a.wait };
        }),
      });
    }
    const [once, sliced] = outcomes;
    assert.equal(once!.slices, 1, "5 runs and no pods or Jobs are under the default threshold: one slice");
    assert.ok(sliced!.slices > 1, `sliced into ${sliced!.slices}`);
    assert.deepEqual(sliced!.runs, once!.runs);
    // 12 GPUs: runs 0 and 1 get all five folds, run 2 two of them, runs 3 and 4 wait in order.
    assert.deepEqual(
      once!.runs.map((r) => [r.admitted.length, r.wait?.position]),
      [
        [5, undefined],
        [5, undefined],
        [2, 1],
        [0, 2],
        [0, 3],
      ],
    );
  });

  it("forgets a deleted run's assumed GPUs: a run deleted between its grant and its Jobs frees them for the next", async () => {
    const c = cluster(1);
    c.publish("first", 0, folds(4));
    await c.cycle();
    assert.equal(c.granted("first").length, 4);
    c.remove("first");
    assert.deepEqual(c.scheduler.assumedGrants(), []);
    c.publish("second", 1, folds(4));
    await c.cycle();
    assert.equal(c.granted("second").length, 4, "the deleted run's grants still counted as taken");
  });

  it("grants nothing to a run deleted while a cycle in slices runs, and hands its GPUs to the others", async () => {
    const c = cluster(1, 0);
    c.publish("early", 0, folds(4));
    c.publish("late", 1, folds(4));
    const before = c.cycles.length;
    c.scheduler.cycle();
    c.remove("early");
    while (c.cycles.length === before) await new Promise((r) => setImmediate(r));
    assert.deepEqual(c.granted("early"), []);
    assert.ok(
      c.scheduler.assumedGrants().every((g) => g.startsWith("team-a/late:")),
      c.scheduler.assumedGrants().join(),
    );
    // The cycle computed on its snapshot (early first); the next one gives late the GPUs.
    await c.cycle();
    assert.equal(c.granted("late").length, 4);
  });

  it("abandons a cycle in slices on stop (lost leadership): none of its grants are handed out, and the next cycle runs", async () => {
    const c = cluster(1, 0);
    c.publish("run", 0, folds(2));
    c.scheduler.cycle();
    c.scheduler.stop();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(c.cycles, []);
    assert.deepEqual(c.granted("run"), []);
    await c.cycle();
    assert.deepEqual(c.granted("run"), ["train/0", "train/1"]);
  });
});
