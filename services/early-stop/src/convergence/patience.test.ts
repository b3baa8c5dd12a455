import { test } from "node:test";
import assert from "node:assert/strict";
import { checkPatience } from "./patience.js";
import { configOf, historyOf } from "./testing.js";

// Keras/Lightning EarlyStopping semantics, case by case.

const rise = (n: number, step = 0.01) => Array.from({ length: n }, (_, i) => 0.5 + i * step);
const flat = (n: number, v: number) => Array.from({ length: n }, () => v);

const cases = [
  {
    name: "a curve still improving by more than minDelta each epoch does not stop",
    emas: rise(30),
    spec: { patience: 5 },
    stop: false,
  },
  {
    name: "patience epochs without improvement stop the fold",
    emas: [...rise(10), ...flat(5, 0.59)],
    spec: { patience: 5 },
    stop: true,
  },
  {
    name: "one epoch fewer than patience keeps training",
    emas: [...rise(10), ...flat(4, 0.59)],
    spec: { patience: 5 },
    stop: false,
  },
  {
    name: "values above the best by no more than minDelta do not count as improvements",
    emas: [...rise(10), 0.5905, 0.5908, 0.5902, 0.5909, 0.5901],
    spec: { patience: 5, minDelta: 0.001 },
    stop: true,
  },
  {
    name: "a gain just above minDelta resets the count",
    emas: [...rise(10), 0.59, 0.59, 0.59, 0.59, 0.5912],
    spec: { patience: 5, minDelta: 0.001 },
    stop: false,
  },
  {
    name: "the baseline is the best value, not the last: a dip and recovery below best+minDelta still counts",
    emas: [0.5, 0.6, 0.55, 0.58, 0.6005, 0.59],
    spec: { patience: 4, minDelta: 0.001 },
    stop: true,
  },
  {
    name: "with ValLoss a falling loss is an improvement",
    emas: rise(10),
    extra: (e: number) => ({ valLoss: -0.1 * e }),
    spec: { patience: 3, monitor: "ValLoss" },
    stop: false,
  },
  {
    name: "with ValLoss a loss stuck for patience epochs stops",
    emas: rise(10),
    extra: (e: number) => ({ valLoss: e < 5 ? -0.1 * e : -0.4 }),
    spec: { patience: 5, monitor: "ValLoss" },
    stop: true,
  },
  {
    name: "epochs without the monitored value neither improve nor count towards patience",
    emas: [...rise(10), ...flat(3, 0.59)],
    extra: (e: number) => (e >= 10 ? { emaPseudoDice: undefined } : {}),
    spec: { patience: 2 },
    stop: false,
  },
];

for (const c of cases) {
  test(c.name, () => {
    const check = checkPatience(historyOf(c.emas, c.extra), configOf({ policy: "Patience", ...c.spec }));
    assert.equal(check.matched, c.stop, check.message);
    assert.equal(check.reason, c.stop ? "NoImprovement" : "Improving");
  });
}
