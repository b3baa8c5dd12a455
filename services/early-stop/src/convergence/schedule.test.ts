import { test } from "node:test";
import assert from "node:assert/strict";
import { inferMaxEpochs, polyLrFactor } from "./schedule.js";

test("PolyLR starts at 1, follows (1 - e/N)^0.9 and is 0 from the planned end on", () => {
  assert.equal(polyLrFactor(0, 1000), 1);
  assert.ok(Math.abs(polyLrFactor(500, 1000) - 0.5 ** 0.9) < 1e-12);
  assert.equal(polyLrFactor(1000, 1000), 0);
  assert.equal(polyLrFactor(1200, 1000), 0);
});

const lrs = (lr0: number, planned: number, logged: number, digits: number) =>
  Array.from({ length: logged }, (_, e) => Number((lr0 * polyLrFactor(e, planned)).toFixed(digits)));

const cases = [
  { name: "a complete 1000-epoch run printed with 5 digits (v2)", lr: lrs(0.01, 1000, 1000, 5), expect: 1000 },
  { name: "a run cut off at 206 of 1000 planned epochs", lr: lrs(0.01, 1000, 206, 5), expect: 1000 },
  { name: "a 500-epoch schedule from lr 0.001 printed with 6 digits (v1)", lr: lrs(0.001, 500, 500, 6), expect: 500 },
  { name: "a constant learning rate is not PolyLR", lr: Array.from({ length: 300 }, () => 0.01), expect: undefined },
  { name: "no learning rates at all", lr: [] as number[], expect: undefined },
];

for (const c of cases) {
  test(`the planned length is inferred from the logged learning rates: ${c.name}`, () => {
    const n = inferMaxEpochs(c.lr);
    if (c.expect === undefined) assert.equal(n, undefined);
    else assert.ok(n !== undefined && Math.abs(n - c.expect) <= c.expect * 0.01, `got ${n}`);
  });
}
