import { test } from "node:test";
import assert from "node:assert/strict";
import { checkForecast, FORECAST_MODEL, normalQuantile } from "./forecast.js";
import { polyLrFactor } from "./schedule.js";
import { configOf, historyOfMeans, noise } from "./testing.js";

// The Forecast policy on synthetic curves whose future is known by construction.

const N = 500;
const forecastSpec = { policy: "Forecast", forecast: { maxGain: 0.012, confidence: 0.95 } };

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

const cases = [
  { name: "a curve flat since early on stops once 20% of the schedule has passed", means: flatAfter(150, 0.8, 0.01), stop: true },
  { name: "nothing stops before 20% of the schedule, however flat", means: flatAfter(99, 0.8, 0.001), stop: false },
  { name: "a curve that keeps gaining with annealing (0.05 over the schedule) is not stopped at 60%", means: annealing(300, 0.05, 0.005), stop: false },
  { name: "the same curve late in the schedule, with little annealing left, is stopped", means: annealing(480, 0.05, 0.005), stop: true },
  { name: "a very noisy flat curve is not stopped until the bound is tight enough", means: flatAfter(110, 0.7, 0.15), stop: false },
];

for (const c of cases) {
  test(c.name, () => {
    const check = checkForecast(historyOfMeans(c.means), configOf(forecastSpec, N));
    assert.equal(check.matched, c.stop, check.message);
  });
}

test("the bound must hold for several epochs in a row", () => {
  const means = flatAfter(150, 0.8, 0.01);
  // A jump in the last epochs lifts the fitted level above the best EMA: the streak breaks.
  means.push(0.95, 0.95);
  const check = checkForecast(historyOfMeans(means), configOf(forecastSpec, N));
  assert.equal(check.matched, false, check.message);
  assert.equal(FORECAST_MODEL.consecutive > 1, true);
});

test("a larger maxGain stops a still-gaining curve earlier, a higher confidence later", () => {
  const means = annealing(400, 0.05, 0.005);
  const at = (maxGain: number, confidence: number) => {
    for (let n = 60; n <= means.length; n++) {
      if (checkForecast(historyOfMeans(means.slice(0, n)), configOf({ policy: "Forecast", forecast: { maxGain, confidence } }, N)).matched) return n;
    }
    return Infinity;
  };
  assert.ok(at(0.03, 0.95) < at(0.012, 0.95));
  assert.ok(at(0.012, 0.99) >= at(0.012, 0.9));
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
