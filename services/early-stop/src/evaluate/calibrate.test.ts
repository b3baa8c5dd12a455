import { test } from "node:test";
import assert from "node:assert/strict";
import {
  averagedCapitalUpper,
  binomialCdf,
  clopperPearsonUpper,
  hoeffdingBentkusUpper,
  inSeededOrder,
  seededOrders,
  waudbySmithRamdasUpper,
} from "./bounds.js";
import { calibrate, resultUnder, tabulate, CALIBRATION_DEFAULTS } from "./calibrate.js";
import type { Curve } from "./curves.js";
import type { PolicyFamily } from "./families.js";
import { evaluateLoso } from "./loso.js";
import { slugOf } from "./sources.js";

// The calibration and the leave-one-source-out protocol on synthetic curve sets whose right
// answer is known by construction. Every curve has 100 epochs of 1 s. A "risky" curve is flat
// at 0.8 and jumps by its `gain` at epoch 50, so stopping it at epoch 10 loses exactly `gain`;
// a "safe" curve is flat, so stopping it at epoch 10 loses nothing and saves 89 s.

function curve(name: string, gain: number): Curve {
  return {
    name,
    maxEpochs: 100,
    points: Array.from({ length: 100 }, (_, epoch) => ({
      epoch,
      emaPseudoDice: epoch >= 50 ? 0.8 + gain : 0.8,
      epochTimeSeconds: 1,
    })),
  };
}

/**
 * A family whose setting j stops the curves named in stopsAt[j] at epoch 10 and never stops
 * the others: scores are 0 at epoch 10 for a curve that setting j stops (threshold j + 0.5
 * admits the scores j' <= j), so the settings must nest, as real ones do.
 */
function nestedFamily(firstSettingStopping: (name: string) => number, settings: number): PolicyFamily {
  return {
    name: "Synthetic",
    settings: Array.from({ length: settings }, (_, j) => ({ label: `s${j}`, spec: { j }, threshold: j + 0.5 })),
    scores: (c) => {
      const s = new Float64Array(c.points.length).fill(Number.POSITIVE_INFINITY);
      s[10] = firstSettingStopping(c.name);
      return s;
    },
  };
}

test("the binomial distribution and the Clopper-Pearson bound match closed forms and tables", () => {
  assert.ok(Math.abs(binomialCdf(1, 3, 0.5) - 0.5) < 1e-12);
  // No failure in n: the bound is 1 - delta^(1/n).
  assert.ok(Math.abs(clopperPearsonUpper(0, 75, 0.05) - (1 - 0.05 ** (1 / 75))) < 1e-9);
  // 5 of 20 at 95% one-sided: 0.4556 (the Beta(6, 15) 0.95 quantile).
  assert.ok(Math.abs(clopperPearsonUpper(5, 20, 0.05) - 0.4556) < 1e-3);
  assert.equal(clopperPearsonUpper(4, 4, 0.05), 1);
});

test("the Hoeffding-Bentkus bound lies above the mean and tightens with more curves", () => {
  for (const mean of [0, 0.05, 0.2]) {
    const few = hoeffdingBentkusUpper(mean, 20, 0.05);
    const many = hoeffdingBentkusUpper(mean, 200, 0.05);
    assert.ok(few > mean && many > mean && many < few, `${mean}: ${few} ${many}`);
  }
  // Hoeffding alone at mean 0.1, n 100, delta 0.05 gives 0.1 + sqrt(ln(20)/200) = 0.2224; HB is no looser.
  assert.ok(hoeffdingBentkusUpper(0.1, 100, 0.05) <= 0.2224);
});

const ones = (n: number, prefix: string, gain: number) =>
  Array.from({ length: n }, (_, i) => curve(`${prefix}${i}`, gain));

const cases: { name: string; curves: Curve[]; family: PolicyFamily; chosen: string | undefined; steps: number }[] = [
  {
    // 100 risky curves losing 0.008 (over the 0.005 tolerance) when stopped. s1 stops 1 of
    // them (CP bound 0.046), s2 stops 2 (0.061), s3 stops 30 (bound over 0.36): fixed-sequence
    // testing stops at s3 and never looks at s4, which stops 3 and would pass on its own.
    name: "the fraction bound stops the sequence at the first failing setting, even if a later one would pass",
    curves: ones(100, "r", 0.008),
    family: nestedFamily((n) => {
      const i = Number(n.slice(1));
      return i < 1 ? 1 : i < 2 ? 2 : i < 30 ? 3 : 5;
    }, 5),
    chosen: "s2",
    steps: 4,
  },
  {
    // Losses of 0.004 stay under the tolerance, so only the mean binds: s1 stops 10 of 100
    // (mean 0.0004, bound about 0.001), s2 stops 60 (mean 0.0024, over the 0.002 budget).
    name: "the mean bound binds when no curve loses more than the tolerance",
    curves: ones(100, "m", 0.004),
    family: nestedFamily((n) => (Number(n.slice(1)) < 10 ? 1 : 2), 3),
    chosen: "s1",
    steps: 3,
  },
  {
    name: "when even the most conservative setting fails, nothing is chosen and no fold is stopped",
    curves: ones(20, "x", 0.02),
    family: nestedFamily(() => 0, 2),
    chosen: undefined,
    steps: 1,
  },
];

for (const c of cases) {
  test(`calibration: ${c.name}`, () => {
    const table = tabulate(c.family, c.curves);
    const cal = calibrate(table, () => true);
    assert.equal(cal.chosen?.setting.label, c.chosen);
    assert.equal(cal.steps.length, c.steps);
    if (c.chosen === undefined) assert.equal(resultUnder(table, cal, 0).stopEpoch, undefined);
  });
}

test("each setting's bounds are reported: fraction over the tolerance and the clipped mean", () => {
  const cal = calibrate(
    tabulate(
      nestedFamily(() => 1, 2),
      ones(50, "r", 0.02),
    ),
    () => true,
  );
  const [s0, s1] = cal.steps;
  assert.equal(s0?.exceeding, 0);
  assert.equal(s0?.meanLoss, 0);
  assert.equal(s1?.exceeding, 50);
  // Losses of 0.02 are clipped to the 0.010 limit for the mean's bound, not for the mean shown.
  assert.ok(Math.abs((s1?.meanLoss ?? 0) - 0.02) < 1e-12);
  assert.ok((s1?.meanLossUpper ?? 0) <= CALIBRATION_DEFAULTS.clip + 1e-12);
  assert.equal(s1?.passed, false);
});

test("leave-one-source-out calibrates each source on the others only", () => {
  // Source a: 30 risky curves (0.008 lost when stopped at epoch 10); b and c: 30 flat curves
  // each. The aggressive setting s1 stops every curve. Held out, a is judged by what b and c
  // allow (s1: it loses 0.008 on every curve); b and c are judged with a's curves in the
  // calibration set, where s1 fails, so they are never stopped.
  const curves = [...ones(30, "a__", 0.008), ...ones(30, "b__", 0), ...ones(30, "c__", 0)];
  const e = evaluateLoso(curves, slugOf, [nestedFamily(() => 1, 2)]);
  const f = e.families[0];
  assert.ok(f !== undefined);
  assert.deepEqual(f.chosen, [
    { source: "a", setting: "s1" },
    { source: "b", setting: "s0" },
    { source: "c", setting: "s0" },
  ]);
  assert.ok(Math.abs(f.summary.meanBestEmaLoss - (30 * 0.008) / 90) < 1e-12);
  assert.ok(Math.abs(f.summary.maxBestEmaLoss - 0.008) < 1e-12);
  assert.ok(Math.abs(f.summary.gpuSecondsSavedFraction - (30 * 89) / 9000) < 1e-12);
  assert.equal(f.summary.withinBudget, false);
  // The oracle is on the same pooled set: every flat curve stopped after its first epoch; the
  // mean budget (0.002 x 90 = 0.18) lets it stop 22 risky ones there too (0.008 each), the
  // other 8 at their jump (epoch 50, no loss).
  assert.ok(
    Math.abs(e.oracleGpuSecondsSavedFraction - (60 * 99 + 22 * 99 + 8 * 49) / 9000) < 1e-9,
    String(e.oracleGpuSecondsSavedFraction),
  );
  assert.deepEqual(e.sources, [
    { source: "a", curves: 30 },
    { source: "b", curves: 30 },
    { source: "c", curves: 30 },
  ]);
});

// The mean bound must not depend on the order the curves come in: file names group each
// repository, and a betting capital that meets one repository's harmless curves first runs up
// and rejects means that are true.

/** i.i.d. losses from a two-point law (0.5 with probability 0.3, else 0.05: mean 0.185), seeded. */
function twoPointSamples(samples: number, n: number, seed: number): number[][] {
  let state = seed;
  const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Array.from({ length: samples }, () => Array.from({ length: n }, () => (random() < 0.3 ? 0.5 : 0.05)));
}

test("seeded orders are permutations, the same for the same seed, different for another", () => {
  const [a, b] = seededOrders(20, 2, 7);
  assert.deepEqual(
    [...(a ?? [])].sort((x, y) => x - y),
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.notDeepEqual(a, b);
  assert.deepEqual(seededOrders(20, 2, 7), [a, b]);
  assert.notDeepEqual(seededOrders(20, 1, 8)[0], a);
});

test("the averaged-capital bound is the same whatever the order of its input", () => {
  const [losses = []] = twoPointSamples(1, 60, 3);
  const upper = averagedCapitalUpper(losses, 0.05, 50, 12345);
  for (const order of seededOrders(60, 5, 99))
    assert.equal(
      averagedCapitalUpper(
        order.map((i) => losses[i] ?? 0),
        0.05,
        50,
        12345,
      ),
      upper,
    );
  assert.equal(
    waudbySmithRamdasUpper(inSeededOrder([...losses].reverse(), 4), 0.05),
    waudbySmithRamdasUpper(inSeededOrder(losses, 4), 0.05),
  );
});

test("on equal losses every order is the same, and the averaged bound is the betting bound, a little above the loss", () => {
  for (const c of [0, 0.1, 0.3]) {
    const equal = Array.from({ length: 100 }, () => c);
    const upper = averagedCapitalUpper(equal, 0.05, 50, 1);
    assert.ok(Math.abs(upper - waudbySmithRamdasUpper(equal, 0.05)) < 1e-12, `${c}: ${upper}`);
    assert.ok(upper > c && upper < c + 0.035, `${c}: ${upper}`);
  }
});

test("on i.i.d. losses fed sorted (an order that follows the loss), the averaged bound covers the mean; the betting bound in that order never does", () => {
  const trials = twoPointSamples(100, 60, 99).map((l) => l.sort((a, b) => a - b));
  const covered = (bound: (l: number[]) => number) => trials.filter((l) => bound(l) >= 0.185).length / trials.length;
  assert.ok(covered((l) => averagedCapitalUpper(l, 0.05, 50, 12345)) >= 0.95);
  assert.equal(
    covered((l) => waudbySmithRamdasUpper(l, 0.05)),
    0,
  );
});

test("calibration: a setting whose mean loss is over budget is refused, though file order (one source's harmless curves first) would pass it", () => {
  // s1 stops every curve at epoch 10: source a's 30 flat curves lose nothing, source b's 70
  // lose 0.004 each (under the 0.005 tolerance): mean 0.0028, over the 0.002 budget.
  const curves = [...ones(30, "a__", 0), ...ones(70, "b__", 0.004)];
  const family = nestedFamily(() => 1, 2);
  const table = tabulate(family, curves);
  // The betting capital over the losses in file order rejects a mean of 0.002 on a's curves alone.
  const fileOrder = (table.results[1] ?? []).map((r) => r.bestEmaLoss / CALIBRATION_DEFAULTS.clip);
  assert.ok(
    CALIBRATION_DEFAULTS.clip * waudbySmithRamdasUpper(fileOrder, CALIBRATION_DEFAULTS.delta / 2) <=
      CALIBRATION_DEFAULTS.meanBudget,
  );
  for (const meanBound of ["orders", "wsr", "hb"] as const) {
    const cal = calibrate(table, () => true, { ...CALIBRATION_DEFAULTS, meanBound });
    assert.equal(cal.chosen?.setting.label, "s0", meanBound);
    assert.ok((cal.steps[1]?.meanLossUpper ?? 0) > 0.0028, `${meanBound}: ${cal.steps[1]?.meanLossUpper}`);
  }
  // The same curves in another order: the same bounds, step for step.
  const shuffled = (seededOrders(100, 1, 5)[0] ?? []).map((i) => curves[i] as Curve);
  assert.deepEqual(calibrate(tabulate(family, shuffled), () => true).steps, calibrate(table, () => true).steps);
});
