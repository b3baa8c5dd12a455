import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkForecast,
  FORECAST_MODEL,
  guardGainAt,
  normalQuantile,
  trendGainAt,
  type ForecastModel,
} from "./forecast.js";
import { polyLrFactor } from "./schedule.js";
import { configOf, historyOfMeans, noise } from "./testing.js";

// The Forecast policy on synthetic curves whose future is known by construction, with
// maxGain 0.002 and the API's confidence 0.975 unless a test says otherwise (maxGain is
// pinned: its default is a calibration's result and may move with the data). Schedule: 500
// epochs, so no forecast before epoch 75 (15%).

const N = 500;
const defaults = { policy: "Forecast", forecast: { maxGain: 0.002 } };

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
function firstStop(
  means: readonly number[],
  spec: Record<string, unknown> = defaults,
  model: ForecastModel = FORECAST_MODEL,
): number {
  for (let n = FORECAST_MODEL.consecutive; n <= means.length; n++) {
    if (checkForecast(historyOfMeans(means.slice(0, n)), configOf(spec, N), model).matched) return n - 1;
  }
  return -1;
}

/** The model with the turn forecast on (off in the controller's model since issue 13). */
const withTurn: ForecastModel = { ...FORECAST_MODEL, turn: true };

const cases: { name: string; means: number[]; stopsWithin: [number, number] | "never" }[] = [
  // The guard's long window (half the epochs so far) must leave the early rise first.
  {
    name: "a curve flat since early on stops once the guard's long window has left the early rise",
    means: flatAfter(500, 0.8, 0.01),
    stopsWithin: [150, 320],
  },
  {
    name: "nothing stops before 15% of the schedule, however flat",
    means: flatAfter(75, 0.8, 0.001),
    stopsWithin: "never",
  },
  {
    name: "a curve gaining 0.05 with the annealing (0.02 still to come at 60%) runs past 90% of the schedule",
    means: annealing(500, 0.05, 0.005),
    stopsWithin: [450, 499],
  },
  {
    name: "a curve gaining 0.01 over the whole schedule stops earlier than one gaining 0.05",
    means: annealing(500, 0.01, 0.005),
    stopsWithin: [300, 420],
  },
  // Its slope's bound stays wide: the trend cannot rule out gains, and the turn is off.
  {
    name: "a very noisy flat curve is not stopped before 80% of the schedule by the trend alone",
    means: flatAfter(500, 0.7, 0.15),
    stopsWithin: [400, 499],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const at = firstStop(c.means);
    if (c.stopsWithin === "never") assert.equal(at, -1, `stopped at ${at}`);
    else
      assert.ok(
        at >= c.stopsWithin[0] && at <= c.stopsWithin[1],
        `stopped at ${at}, expected within ${c.stopsWithin[0]}-${c.stopsWithin[1]}`,
      );
  });
}

test("a curve that keeps gaining is not stopped at 60% of the schedule, and says how much it still expects", () => {
  const check = checkForecast(historyOfMeans(annealing(300, 0.05, 0.005)), configOf(defaults, N));
  assert.equal(check.matched, false);
  // Its gains are steady enough that even the long window's lower bound proves them.
  assert.equal(check.reason, "SteadyGain");
  assert.match(
    check.message,
    /^the slope over the last 50% of the epochs is significantly positive: the remaining 200 epochs are predicted to add at least 0\.0\d+$/,
  );
  const trendOnly = checkForecast(historyOfMeans(annealing(300, 0.05, 0.005)), configOf(defaults, N), {
    ...FORECAST_MODEL,
    guard: false,
  });
  assert.equal(trendOnly.reason, "StillGaining");
  assert.match(
    trendOnly.message,
    /^the remaining 200 of 500 epochs are predicted to add at least 0\.01\d+ \(97\.5% bound; maxGain 0\.002\)$/,
  );
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

test("with the turn on, a curve that turned down stops by the turn even while its noisy trend is not yet clear", () => {
  assert.equal(
    checkForecast(historyOfMeans(flatAfter(149, 0.7, 0.15)), configOf(defaults, N)).matched,
    false,
    "the controller's model leaves it",
  );
  const check = checkForecast(historyOfMeans(flatAfter(149, 0.7, 0.15)), configOf(defaults, N), withTurn);
  assert.equal(check.matched, true);
  assert.match(
    check.message,
    /^even the 97\.5% bound of the level the annealing left can reach stays 0\.\d+ below the best for 5 epochs in a row/,
  );
});

test("the condition must hold for several epochs in a row", () => {
  const flat = flatAfter(500, 0.8, 0.01);
  const means = flat.slice(0, firstStop(flat) + 1);
  assert.equal(checkForecast(historyOfMeans(means), configOf(defaults, N)).matched, true);
  // A jump in the last epochs lifts the slope and the level above the best EMA: the streak breaks.
  means.push(0.95, 0.95);
  const check = checkForecast(historyOfMeans(means), configOf(defaults, N));
  assert.equal(check.matched, false, check.message);
  assert.equal(FORECAST_MODEL.consecutive > 1, true);
});

test("the guard holds a curve whose recent stretch looks flat but whose long window climbs steadily", () => {
  // Climbs 0.06 over the first half of the schedule, then a flat stretch: once the trend's
  // window (the last 30% of the schedule) has left the climb it sees no gain, while the
  // guard's (the last half of the epochs) still sees the climb and proves more to come.
  const z = noise(7);
  const means = Array.from({ length: 480 }, (_, e) => 0.8 + (0.06 * Math.min(e, 250)) / 250 + 0.004 * z(e));
  const cfg = configOf(defaults, N);
  const h = historyOfMeans(means);
  const without = firstStop(means, defaults, { ...FORECAST_MODEL, guard: false });
  assert.ok(without > 350, `the trend alone stops at ${without}`);
  const guard = guardGainAt(h, cfg, without);
  assert.ok(typeof guard === "number" && guard > 0.002, `where the trend alone stops, the guard proves ${guard}`);
  const withGuard = firstStop(means);
  assert.ok(withGuard === -1 || withGuard > without + 10, `without the guard ${without}, with it ${withGuard}`);
});

test("a larger maxGain stops a still-gaining curve earlier, a higher confidence later", () => {
  const means = annealing(500, 0.05, 0.005);
  const at = (maxGain: number, confidence: number) =>
    firstStop(means, { policy: "Forecast", forecast: { maxGain, confidence } });
  assert.ok(at(0.01, 0.975) < at(0.002, 0.975));
  assert.ok(at(0.002, 0.99) > at(0.002, 0.9));
});

test("the normal quantile matches known values", () => {
  for (const [p, z] of [
    [0.5, 0],
    [0.9, 1.2815515655],
    [0.95, 1.644853627],
    [0.99, 2.326347874],
    [0.01, -2.326347874],
  ] as const) {
    assert.ok(Math.abs(normalQuantile(p) - z) < 1e-8, `${p}: ${normalQuantile(p)}`);
  }
});
