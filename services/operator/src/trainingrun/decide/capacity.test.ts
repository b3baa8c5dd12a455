import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { bestFit, FreeGpuIndex, type GpuNode } from "./capacity.js";

// The index must place exactly as bestFit scanning every node does (fewest free GPUs that
// fit, then the name), through any sequence of placements, for every product selector.

function rand(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    // mulberry32: a fixed sequence, so a failure reproduces
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const products = ["L40S", "H100", "A100"];
const selectors: Array<[string | undefined, string[]]> = [
  [undefined, []],
  ["gpu", ["L40S"]],
  ["gpu", ["H100", "A100"]],
  ["other", ["L40S"]],
];

function nodes(pick: (n: number) => number): GpuNode[] {
  return Array.from({ length: 1 + pick(40) }, (_, i) => {
    const allocatable = pick(9);
    return {
      name: `n-${pick(1000)}-${i}`,
      labels: pick(5) === 0 ? {} : { gpu: products[pick(3)]! },
      allocatable,
      blockers: pick(6) === 0 ? ["cordoned"] : [],
      free: allocatable - pick(3),
    };
  });
}

describe("FreeGpuIndex", () => {
  it("answers as bestFit over every node, through 300 random sequences of placements", () => {
    const pick = rand(11);
    let placed = 0;
    for (let round = 0; round < 300; round++) {
      const mine = nodes(pick);
      const theirs = mine.map((n) => ({ ...n }));
      const index = new FreeGpuIndex(mine);
      for (let step = 0; step < 60; step++) {
        const [label, values] = selectors[pick(selectors.length)]!;
        const gpus = pick(5);
        const want = bestFit(theirs, gpus, label, values);
        const got = index.bestFit(gpus, label, values);
        assert.equal(got?.name, want?.name, `round ${round} step ${step}`);
        if (!want || !got) continue;
        placed += 1;
        want.free -= gpus;
        index.take(got, gpus);
      }
    }
    assert.ok(placed > 3000, `only ${placed} placements: the rounds test too little`);
  });
});
