import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { foldersOverlap, runResultsSubPath, type TrainingRun } from "@nnunet-operator/api";
import { makeRun } from "../../testing/builders.js";
import { olderOverlappingRunSteps } from "./results-folders.js";
import { drain } from "./steps.js";

const olderOverlappingRuns = (runs: Parameters<typeof olderOverlappingRunSteps>[0]) =>
  drain(olderOverlappingRunSteps(runs));

// The index must answer exactly what asking every other run would (the quadratic rule it
// replaces, kept here as the reference): same holder, first in input order.

function reference(runs: readonly TrainingRun[]): Map<number, TrainingRun> {
  const key = (r: TrainingRun) => `${r.metadata.namespace ?? "default"}/${r.metadata.name}`;
  const older = (a: TrainingRun, b: TrainingRun) =>
    String(a.metadata.creationTimestamp ?? "").localeCompare(String(b.metadata.creationTimestamp ?? "")) < 0 ||
    (a.metadata.creationTimestamp === b.metadata.creationTimestamp && key(a) < key(b));
  const out = new Map<number, TrainingRun>();
  runs.forEach((run, i) => {
    const other = runs.find(
      (o) =>
        o.metadata.uid !== run.metadata.uid &&
        older(o, run) &&
        o.metadata.namespace === run.metadata.namespace &&
        o.spec.storage.claimName === run.spec.storage.claimName &&
        foldersOverlap(runResultsSubPath(o), runResultsSubPath(run)),
    );
    if (other) out.set(i, other);
  });
  return out;
}

function run(pick: (n: number) => number): TrainingRun {
  // Folders are <subPath>/<namespace>/<name>/<uid>: these point into one another's.
  const subPaths = ["r", "r/", "r//ns-0/run-1/0", "r/ns-0/run-1/0/", "r/ns-1/run-2", "r/ns-0/run-0/1", "", "/ns-0"];
  const r = makeRun()
    .named(`run-${pick(2)}`)
    .build();
  // Set after the build: the index must hold for any string, valid in the API or not.
  return {
    ...r,
    spec: { ...r.spec, storage: { claimName: `claim-${pick(2)}`, resultsSubPath: subPaths[pick(subPaths.length)]! } },
    metadata: {
      ...r.metadata,
      namespace: `ns-${pick(2)}`,
      uid: `${pick(2)}`,
      creationTimestamp: `2026-01-0${1 + pick(3)}T00:00:00Z`,
    },
  } as TrainingRun;
}

describe("olderOverlappingRuns", () => {
  it("finds no holder for runs in folders of their own", () => {
    const runs = [0, 1, 2]
      .map(() => run(() => 0))
      .map((r, i) => ({
        ...r,
        metadata: { ...r.metadata, name: `r${i}`, uid: `u${i}` },
      }));
    assert.deepEqual(olderOverlappingRuns(runs), new Map());
  });

  it("agrees with asking every other run, on 1,000 random sets of nested, equal and unrelated folders", () => {
    let seed = 7;
    const rand = (n: number) => {
      // mulberry32: a fixed sequence, so a failure reproduces
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    let held = 0;
    for (let set = 0; set < 1000; set++) {
      const runs = Array.from({ length: 1 + rand(16) }, () => run(rand));
      const want = reference(runs);
      held += want.size;
      assert.deepEqual(olderOverlappingRuns(runs), want, `set ${set}`);
    }
    assert.ok(held > 20, `only ${held} runs held: the sets test too little`);
  });
});
