import { test } from "node:test";
import assert from "node:assert/strict";
import { checkForecast, FORECAST_MODEL, normalQuantile, trendGainAt } from "./forecast.js";
import { polyLrFactor } from "./schedule.js";
import { configOf, historyOfMeans, noise } from "./testing.js";

// The Forecast policy on synthetic curves whose future is known by construction, with the
// API defaults (maxGain 0.002, confidence 0.975) unless a test says otherwise. Schedule: 500
// epochs, so no forecast before epoch 75 (15%).

const N = 500;
const defaults = { policy: "Forecast" };

/** Mean pseudo Dice that saturates quickly and then stays flat, with noise of amplitude `amp`. */
const flatAfter = (n: number, level: number, amp: number, seed = 1) => {
  const z = noise(seed);
  return Array.from({ length: n }, (_, e) => level * (1 - Math.exp(-e / 10)) + amp * z(e));
};

/** Mean pseudo Dice that keeps rising as the learning rate anneals: gain `total` over the schedule. */
const annealing = (n: number, total: number, amp: number, seed = 2) => {
  const z = noise(seed);
  return Array.from({ length: n }, (_, e) => 0.8 + total * (1 - polyLrFactor(e, N)) + amp * z(e));
};

/** The first epoch at which the policy stops the curve, or -1. */
function firstStop(means: readonly number[], spec: Record<string, unknown> = defaults): number {
  for (let n = FORECAST_MODEL.consecutive; n <= means.length; n++) {
    if (checkForecast(historyOfMeans(means.slice(0, n)), configOf(spec, N)).matched) return n - 1;
  }
  return -1;
}

const cases: { name: string; means: number[]; stopsWithin: [number, number] | "never" }[] = [
  { name: "a curve flat since early on stops once its trend window has left the early rise (about 30% of the schedule)", means: flatAfter(500, 0.8, 0.01), stopsWithin: [75, 160] },
  { name: "nothing stops before 15% of the schedule, however flat", means: flatAfter(75, 0.8, 0.001), stopsWithin: "never" },
  { name: "a curve gaining 0.05 with the annealing (0.02 still to come at 60%) runs past 90% of the schedule", means: annealing(500, 0.05, 0.005), stopsWithin: [450, 499] },
  { name: "a curve gaining 0.01 over the whole schedule stops earlier than one gaining 0.05", means: annealing(500, 0.01, 0.005), stopsWithin: [300, 420] },
  { name: "a very noisy flat curve stops once its best EMA is out of reach of the level (a lucky high)", means: flatAfter(500, 0.7, 0.15), stopsWithin: [75, 200] },
];

for (const c of cases) {
  test(c.name, () => {
    const at = firstStop(c.means);
    if (c.stopsWithin === "never") assert.equal(at, -1, `stopped at ${at}`);
    else assert.ok(at >= c.stopsWithin[0] && at <= c.stopsWithin[1], `stopped at ${at}, expected within ${c.stopsWithin[0]}-${c.stopsWithin[1]}`);
  });
}

test("a curve that keeps gaining is not stopped at 60% of the schedule, and says how much it still expects", () => {
  const check = checkForecast(historyOfMeans(annealing(300, 0.05, 0.005)), configOf(defaults, N));
  assert.equal(check.matched, false);
  assert.equal(check.reason, "StillGaining");
  assert.match(check.message, /^the remaining 200 of 500 epochs are predicted to add at least 0\.01\d+ \(97\.5% bound; maxGain 0\.002\)$/);
});

test("the trend forecast is half the fitted slope's upper bound times the epochs left", () => {
  // A straight line rising 0.0001 per epoch with no noise: the bound is the slope itself.
  const means = Array.from({ length: 300 }, (_, e) => 0.8 + 0.0001 * e);
  const t = trendGainAt(historyOfMeans(means), configOf(defaults, N), 299);
  assert.ok(typeof t !== "string", String(t));
  assert.ok(Math.abs(t.slope - 0.0001) < 1e-12);
  assert.equal(t.epochsLeft, 200);
  assert.ok(Math.abs(t.gainUpper - 0.5 * 0.0001 * 200) < 1e-7, String(t.gainUpper));
});

test("a curve that turned down stops by the turn even while its noisy trend is not yet clear", () => {
  const check = checkForecast(historyOfMeans(flatAfter(149, 0.7, 0.15)), configOf(defaults, N));
  assert.equal(check.matched, true);
  assert.match(check.message, /^even the 97\.5% bound of the level the annealing left can reach stays 0\.\d+ below the best for 5 epochs in a row/);
});

test("the condition must hold for several epochs in a row", () => {
  const means = flatAfter(152, 0.8, 0.01);
  assert.equal(checkForecast(historyOfMeans(means), configOf(defaults, N)).matched, true);
  // A jump in the last epochs lifts the slope and the level above the best EMA: the streak breaks.
  means.push(0.95, 0.95);
  const check = checkForecast(historyOfMeans(means), configOf(defaults, N));
  assert.equal(check.matched, false, check.message);
  assert.equal(FORECAST_MODEL.consecutive > 1, true);
});

test("a larger maxGain stops a still-gaining curve earlier, a higher confidence later", () => {
  const means = annealing(500, 0.05, 0.005);
  const at = (maxGain: number, confidence: number) => firstStop(means, { policy: "Forecast", forecast: { maxGain, confidence } });
  assert.ok(at(0.01, 0.975) < at(0.002, 0.975));
  assert.ok(at(0.002, 0.99) > at(0.002, 0.9));
});

test("the normal quantile matches known values", () => {
  for (const [p, z] of [
    [0.5, 0],
    [0.9, 1.2815515655],
    [0.95, 1.6448536270],
    [0.99, 2.3263478740],
    [0.01, -2.3263478740],
  ] as const) {
    assert.ok(Math.abs(normalQuantile(p) - z) < 1e-8, `${p}: ${normalQuantile(p)}`);
  }
});
