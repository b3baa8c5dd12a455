import { test } from "node:test";
import assert from "node:assert/strict";
import { checkPlateau } from "./plateau.js";
import { configOf, historyOf } from "./testing.js";

// Ray Tune TrialPlateauStopper semantics: population std of the last `window` values < std.

const cases = [
  {
    name: "fewer values than the window never stop",
    emas: [0.5, 0.5, 0.5],
    plateau: { window: 4, std: 0.01 },
    stop: false,
  },
  {
    name: "a window of identical values is a plateau",
    emas: [0.1, 0.5, 0.5, 0.5, 0.5],
    plateau: { window: 4, std: 0.01 },
    stop: true,
  },
  {
    name: "only the last window counts, not the noisy start",
    emas: [0.1, 0.9, 0.3, 0.7, 0.7, 0.701, 0.699, 0.7],
    plateau: { window: 4, std: 0.01 },
    stop: true,
  },
  // values 0.0 and 0.02 alternating: population std exactly 0.01, which is not below 0.01
  {
    name: "a standard deviation equal to the threshold is not a plateau",
    emas: [0, 0.02, 0, 0.02],
    plateau: { window: 4, std: 0.01 },
    stop: false,
  },
  {
    name: "a rising window is not a plateau",
    emas: [0.5, 0.52, 0.54, 0.56],
    plateau: { window: 4, std: 0.01 },
    stop: false,
  },
  {
    name: "a wider window needs more flat epochs",
    emas: [0.3, 0.5, 0.5, 0.5, 0.5],
    plateau: { window: 5, std: 0.01 },
    stop: false,
  },
];

for (const c of cases) {
  test(c.name, () => {
    const check = checkPlateau(historyOf(c.emas), configOf({ policy: "Plateau", plateau: c.plateau }));
    assert.equal(check.matched, c.stop, check.message);
  });
}
