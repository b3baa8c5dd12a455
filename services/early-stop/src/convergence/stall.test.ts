import { test } from "node:test";
import assert from "node:assert/strict";
import { checkStall, medianEpochSeconds } from "./stall.js";
import { FoldHistory } from "./history.js";
import { configOf } from "./testing.js";

// Stall: no epoch for stallAfterEpochTimes x the median epoch time is reported.

const T0 = Date.parse("2026-01-01T00:00:00Z");

function history(times: (number | undefined)[], spacingSeconds = 100): FoldHistory {
  const h = new FoldHistory();
  times.forEach((t, epoch) => h.append({ epoch, epochTimeSeconds: t, observedAtMs: T0 + epoch * spacingSeconds * 1000 }));
  return h;
}

const cfg = configOf({ stallAfterEpochTimes: 5 });
const last = (n: number, spacing = 100) => T0 + (n - 1) * spacing * 1000;

const cases = [
  { name: "no epoch yet: nothing to judge by", h: new FoldHistory(), now: T0 + 1e9, stalled: false },
  { name: "within five median epoch times of the last epoch is not a stall", h: history([100, 100, 100]), now: last(3) + 499_000, stalled: false },
  { name: "beyond five median epoch times is a stall", h: history([100, 100, 100]), now: last(3) + 501_000, stalled: true },
  { name: "the median ignores one very slow epoch", h: history([100, 100, 5000, 100, 100]), now: last(5) + 600_000, stalled: true },
  { name: "without logged epoch times the arrival gaps are used", h: history([undefined, undefined, undefined], 60), now: last(3, 60) + 301_000, stalled: true },
  { name: "a new attempt that started after the last epoch is quiet only since its start", h: history([100, 100, 100]), now: last(3) + 900_000, since: last(3) + 500_000, stalled: false },
  { name: "a new attempt quiet for five median epoch times since its start is a stall", h: history([100, 100, 100]), now: last(3) + 1_001_000, since: last(3) + 500_000, stalled: true },
  { name: "a start before the last epoch changes nothing", h: history([100, 100, 100]), now: last(3) + 501_000, since: last(3) - 50_000, stalled: true },
];

for (const c of cases) {
  test(c.name, () => {
    assert.equal(checkStall(c.h, c.now, cfg, c.since).stalled, c.stalled);
  });
}

test("the report carries the median and the limit it used", () => {
  const r = checkStall(history([90, 100, 110]), last(3) + 10_000, cfg);
  assert.equal(r.medianEpochSeconds, 100);
  assert.equal(r.limitSeconds, 500);
  assert.equal(r.secondsSinceLastEpoch, 10);
  assert.equal(medianEpochSeconds(history([1, 2, 3, 4])), 2.5);
});
