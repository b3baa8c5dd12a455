import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readRun, RunIndex } from "./runs.js";
import { makeRun } from "./testing/index.js";

// How a TrainingRun becomes per-fold policy configs.

describe("readRun", () => {
  const cases: Array<{
    name: string;
    status?: Record<string, unknown>;
    maxEpochs?: number;
    want: Record<string, number>;
  }> = [
    { name: "without status the spec's maxEpochs is planned", want: { "0": 1000, "1": 1000 } },
    {
      name: "the calibrated effectiveMaxEpochs replaces the spec's",
      status: { calibration: { effectiveMaxEpochs: 500 } },
      want: { "0": 500, "1": 500 },
    },
    {
      name: "a fold's own maxEpochs in status wins over the calibration",
      status: { calibration: { effectiveMaxEpochs: 500 }, folds: [{ fold: "1", phase: "Training", maxEpochs: 250 }] },
      want: { "0": 500, "1": 250 },
    },
    {
      name: "a status the operator wrote in an unknown shape is ignored, not fatal",
      status: { calibration: "weird", folds: 3 },
      maxEpochs: 300,
      want: { "0": 300, "1": 300 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = readRun(
        makeRun({ ...(c.status && { status: c.status }), ...(c.maxEpochs && { maxEpochs: c.maxEpochs }) }),
      );
      assert.ok(r.ok);
      assert.deepEqual(Object.fromEntries([...r.run.configs].map(([f, v]) => [f, v.config.maxEpochs])), c.want);
    });
  }

  it("applies the API defaults of earlyStop and keys the config so that a change shows", () => {
    const a = readRun(makeRun());
    const b = readRun(makeRun({ earlyStop: { policy: "Patience" } }));
    assert.ok(a.ok && b.ok);
    assert.equal(a.run.configs.get("0")?.config.earlyStop.policy, "Forecast");
    assert.equal(a.run.configs.get("0")?.config.earlyStop.minEpochs, 50);
    assert.notEqual(a.run.configs.get("0")?.key, b.run.configs.get("0")?.key);
  });

  it("refuses a run without uid or with a spec that does not parse", () => {
    const noUid = makeRun();
    delete noUid.metadata.uid;
    assert.equal(readRun(noUid).ok, false);
    assert.equal(readRun({ ...makeRun(), spec: { dataset: "nope" } }).ok, false);
  });

  it("knows which folds a run trains", () => {
    const r = readRun(
      makeRun({
        folds: [0, "all"],
        status: {
          folds: [
            { fold: "all", phase: "Converged" },
            { fold: "0", phase: "Training", attempt: 2 },
          ],
        },
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual([...r.run.folds], ["0", "all"]);
  });
});

describe("RunIndex", () => {
  it("reads a run again only when its resourceVersion changes", () => {
    let object = { ...makeRun(), metadata: { ...makeRun().metadata, resourceVersion: "1" } };
    const index = new RunIndex(() => object);
    const first = index.get("team-a", "liver");
    assert.equal(index.get("team-a", "liver"), first);
    object = { ...object, metadata: { ...object.metadata, resourceVersion: "2" } };
    assert.notEqual(index.get("team-a", "liver"), first);
    assert.equal(new RunIndex(() => undefined).get("team-a", "liver"), undefined);
  });
});
