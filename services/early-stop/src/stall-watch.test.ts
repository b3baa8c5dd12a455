import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FoldPhase } from "@nnunet-operator/api";
import { makePolicyConfig } from "./convergence/config.js";
import { FoldState } from "./convergence/fold-state.js";
import type { FoldEntry } from "./ingest.js";
import type { RunView } from "./runs.js";
import { checkFoldStall, stallKey, trackAttempt } from "./stall-watch.js";
import { flatCurve } from "./testing/index.js";

// Which folds count as stalled on a tick: ten 100 s epochs of attempt `attempt`, the last
// observed at T0, stallAfterEpochTimes 5; the run's status as the operator last wrote it.

const T0 = Date.parse("2026-01-01T00:00:00Z");

function entry(o: { attempt?: number; maxEpochs?: number; decided?: boolean } = {}): FoldEntry {
  const state = new FoldState(makePolicyConfig({ policy: "Patience", patience: o.decided ? 1 : 1000, minEpochs: 1, stallAfterEpochTimes: 5 }, o.maxEpochs ?? 200));
  const points = o.decided ? flatCurve(10, 1).map((p) => ({ ...p, emaPseudoDice: 0.5, pseudoDiceMean: 0.5 })) : flatCurve(10);
  for (const p of points) state.ingest({ ...p, observedAtMs: T0 - (9 - p.epoch) * 100_000 }, o.attempt ?? 0);
  return { key: "team-a/liver/0", namespace: "team-a", run: "liver", fold: "0", runUid: "uid-liver", state, configKey: "", settled: false, stalled: false, lastEpochAtMs: T0 };
}

function run(o: { phase?: FoldPhase; attempt?: number; uid?: string } = {}): RunView {
  return {
    namespace: "team-a",
    name: "liver",
    uid: o.uid ?? "uid-liver",
    resourceVersion: "1",
    folds: new Set(["0"]),
    configs: new Map(),
    phases: new Map(o.phase !== undefined ? [["0", o.phase]] : []),
    attempts: new Map(o.attempt !== undefined ? [["0", o.attempt]] : []),
  };
}

describe("checkFoldStall", () => {
  const cases: Array<{ name: string; entry: FoldEntry; run: RunView | undefined; now: number; want: string | undefined }> = [
    { name: "a Training fold quiet for more than five epoch times stalls, in its epochs' attempt", entry: entry({ attempt: 2 }), run: run({ phase: "Training" }), now: T0 + 501_000, want: "2/9" },
    { name: "a fold without a phase in status yet can stall", entry: entry(), run: run(), now: T0 + 501_000, want: "0/9" },
    { name: "not before five epoch times", entry: entry(), run: run({ phase: "Training" }), now: T0 + 499_000, want: undefined },
    { name: "not while the operator restarts it", entry: entry(), run: run({ phase: "Restarting" }), now: T0 + 900_000, want: undefined },
    { name: "not with a stop decision", entry: entry({ decided: true }), run: run({ phase: "Training" }), now: T0 + 900_000, want: undefined },
    { name: "not after the last planned epoch", entry: entry({ maxEpochs: 10 }), run: run({ phase: "Training" }), now: T0 + 900_000, want: undefined },
    { name: "not for another incarnation of the run", entry: entry(), run: run({ uid: "uid-new" }), now: T0 + 900_000, want: undefined },
    { name: "not for a run that is gone", entry: entry(), run: undefined, now: T0 + 900_000, want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.ok(!c.entry.state.decision === !c.name.includes("stop decision"), "the decided case has a decision");
      const v = checkFoldStall(c.entry, c.run, c.now);
      assert.equal(v.stalled ? stallKey(v) : undefined, c.want);
    });
  }
});

describe("trackAttempt", () => {
  it("starts a newer attempt's quiet time when the status first names it, and keeps that start", () => {
    const e = entry();
    trackAttempt(e, run({ phase: "Restarting", attempt: 1 }), T0 + 300_000);
    trackAttempt(e, run({ phase: "Training", attempt: 1 }), T0 + 310_000);
    assert.deepEqual(e.attemptStart, { attempt: 1, atMs: T0 + 300_000 });
    assert.equal(checkFoldStall(e, run({ phase: "Training", attempt: 1 }), T0 + 800_000).stalled, false);
    const v = checkFoldStall(e, run({ phase: "Training", attempt: 1 }), T0 + 801_000);
    assert.ok(v.stalled);
    assert.deepEqual([v.attempt, v.lastEpoch, v.secondsSinceLastEpoch], [1, 9, 501]);
  });

  it("forgets the start once the attempt logs epochs, and ignores a status that lags behind the epochs", () => {
    const e = entry({ attempt: 1 });
    e.attemptStart = { attempt: 1, atMs: T0 };
    trackAttempt(e, run({ attempt: 1 }), T0 + 1000);
    assert.equal(e.attemptStart, undefined);
    trackAttempt(e, run({ attempt: 0 }), T0 + 2000);
    assert.equal(e.attemptStart, undefined);
    assert.equal(checkFoldStall(e, run({ attempt: 0 }), T0 + 501_000).stalled, true);
  });
});
