import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { completeCurves, quantile, replayFinish } from "../bench/predicted-finish-replay.js";

// The operator's predicted finish on the real curves (npm run bench:finish prints the whole
// distribution; services/operator/README.md, "Predicted finish", the table). The epoch time
// it uses is the median of the last 50: on 75 curves 65 stay within 10% at every epoch from
// 20% of the schedule on, 91.3% of predictions are within 10% (median 0.2%); with the mean
// over every epoch it was 62 and 86.6%. The 10 curves that miss change their epoch time
// partway (Dataset802 at about 127 s then 44 s an epoch, clusters of 1,200 s epochs in three
// BraTS runs), which no estimate from the epochs before the change can foresee. These tests
// hold the measured figures as a floor so that a change can only improve them.

describe("predicted finish replayed on the real curves, from 20% of the schedule on", () => {
  const results = completeCurves().map((c) => replayFinish(c, 0.2));

  it("has curves to judge by: every complete curve with epoch times", () =>
    assert.ok(results.length >= 50, `only ${results.length} complete curves`));

  it("stays within 10% of the real end at every epoch on at least 85% of the curves", () => {
    const misses = results.filter((r) => r.worstToScheduleEnd > 0.1);
    assert.ok(
      misses.length <= 0.15 * results.length,
      `outside 10%: ${misses.map((r) => `${r.name} ${(100 * r.worstToScheduleEnd).toFixed(1)}%`).join(", ")}`,
    );
  });

  it("is within 10% for at least 90% of all predictions, and within 1% at the median", () => {
    const all = results.flatMap((r) => r.errors.map(Math.abs)).sort((a, b) => a - b);
    const within = all.filter((e) => e <= 0.1).length / all.length;
    assert.ok(within >= 0.9, `only ${(100 * within).toFixed(1)}% of predictions within 10%`);
    assert.ok(quantile(all, 0.5) < 0.01, `median |error| ${quantile(all, 0.5)}`);
  });
});
