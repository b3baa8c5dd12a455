import {
  averagedCapitalUpper,
  clopperPearsonUpper,
  hoeffdingBentkusUpper,
  inSeededOrder,
  waudbySmithRamdasUpper,
} from "./bounds.js";
import type { Curve } from "./curves.js";
import { stopIndexOf, type PolicyFamily, type Setting } from "./families.js";
import { LOSS_BUDGET, measureStop, type CurveResult } from "./replay.js";

// Risk-controlled choice of a policy's setting, in the manner of Learn-then-Test
// (Angelopoulos et al. 2021): walk the family's settings from the most conservative to the
// most aggressive (fixed-sequence testing, so no correction for the number of settings is
// needed) and keep going while the setting's risk is bounded on the calibration curves:
//  (a) the fraction of curves losing more than `tolerance` of best EMA pseudo Dice: its
//      Clopper-Pearson upper bound at confidence 1 - delta/2 is at most `alpha`;
//  (b) the mean best-EMA loss, each loss clipped to [0, clip] (the hard per-curve limit):
//      its upper bound at confidence 1 - delta/2 is at most `meanBudget`. The bound is
//      Waudby-Smith-Ramdas' betting capital (best-EMA losses vary little, and its bets adapt
//      to that), which depends on the order the losses are taken in and is valid only for a
//      random order: the curves' file order groups each repository, so it is never used.
//      `meanBound: "orders"` (default): the final capital averaged over `orders` seeded random
//      orders, an e-value whatever the input order; "wsr": the running capital over ONE seeded
//      random order (Ville's inequality; which settings pass can turn on that one draw);
//      "hb": Hoeffding-Bentkus, from the mean alone (order-free, looser).
// The two bounds share delta (Bonferroni), so both hold together with confidence 1 - delta,
// assuming the curves are drawn independently from one distribution of runs and a new run
// comes from it too (curves of one repository are alike, so that is optimistic for a new
// repository: leave-one-source-out measures it). Every mean bound first sorts the losses by
// value, so the input order changes nothing. The choice is the last setting that passed; when
// even the first fails, the policy never stops a fold.

export interface CalibrationOptions {
  readonly alpha: number;
  readonly tolerance: number;
  readonly delta: number;
  readonly meanBudget: number;
  readonly clip: number;
  readonly meanBound: MeanBound;
  /** For "orders": how many seeded random orders are averaged; the seed of every random order. */
  readonly orders: number;
  readonly seed: number;
}

export const MEAN_BOUNDS = ["orders", "wsr", "hb"] as const;
export type MeanBound = (typeof MEAN_BOUNDS)[number];

export const CALIBRATION_DEFAULTS: CalibrationOptions = {
  alpha: 0.1,
  tolerance: 0.005,
  delta: 0.1,
  meanBudget: LOSS_BUDGET.mean,
  clip: LOSS_BUDGET.max,
  meanBound: "orders",
  orders: 50,
  seed: 12345,
};

/** Every curve's result under every setting of a family, computed once. */
export interface FamilyTable {
  readonly family: PolicyFamily;
  readonly curves: readonly Curve[];
  /** results[s][c]: setting s on curve c. */
  readonly results: readonly (readonly CurveResult[])[];
}

export function tabulate(family: PolicyFamily, curves: readonly Curve[]): FamilyTable {
  const scores = curves.map((c) => family.scores(c));
  const results = family.settings.map((s) =>
    curves.map((c, i) => {
      const { index, stopped } = stopIndexOf(scores[i] ?? new Float64Array(), s.threshold);
      return measureStop(c, index, stopped);
    }),
  );
  return { family, curves, results };
}

export interface CalibrationStep {
  readonly setting: Setting;
  readonly curves: number;
  readonly exceeding: number;
  readonly exceedingUpper: number;
  readonly meanLoss: number;
  readonly meanLossUpper: number;
  readonly passed: boolean;
}

export interface Calibration {
  readonly family: string;
  /** The most aggressive setting that passed, with its index in the family; undefined: none did. */
  readonly chosen?: { readonly index: number; readonly setting: Setting };
  /** The settings tested, in order, up to and including the first that failed. */
  readonly steps: readonly CalibrationStep[];
}

/** The upper bound of the mean of losses scaled to [0, 1], at confidence 1 - delta/2. */
function scaledMeanUpper(scaled: readonly number[], o: CalibrationOptions): number {
  const d = o.delta / 2;
  switch (o.meanBound) {
    case "orders":
      return averagedCapitalUpper(scaled, d, o.orders, o.seed);
    case "wsr":
      return waudbySmithRamdasUpper(inSeededOrder(scaled, o.seed), d);
    case "hb":
      return hoeffdingBentkusUpper(
        scaled.length > 0 ? scaled.reduce((a, l) => a + l, 0) / scaled.length : 0,
        scaled.length,
        d,
      );
  }
}

/** One setting's bounds on a set of results. */
export function boundStep(setting: Setting, results: readonly CurveResult[], o: CalibrationOptions): CalibrationStep {
  const n = results.length;
  const exceeding = results.filter((r) => r.bestEmaLoss > o.tolerance).length;
  const exceedingUpper = clopperPearsonUpper(exceeding, n, o.delta / 2);
  const meanLoss = n > 0 ? results.reduce((a, r) => a + r.bestEmaLoss, 0) / n : 0;
  const scaled = results.map((r) => Math.min(o.clip, Math.max(0, r.bestEmaLoss)) / o.clip);
  const meanLossUpper = o.clip * scaledMeanUpper(scaled, o);
  const passed = n > 0 && exceedingUpper <= o.alpha && meanLossUpper <= o.meanBudget;
  return { setting, curves: n, exceeding, exceedingUpper, meanLoss, meanLossUpper, passed };
}

/** Calibrates a family on the curves of the table whose indices `use` selects. */
export function calibrate(
  table: FamilyTable,
  use: (curveIndex: number) => boolean,
  o: CalibrationOptions = CALIBRATION_DEFAULTS,
): Calibration {
  const steps: CalibrationStep[] = [];
  let chosen: Calibration["chosen"];
  for (let s = 0; s < table.family.settings.length; s++) {
    const setting = table.family.settings[s];
    const row = table.results[s];
    if (setting === undefined || row === undefined) break;
    const step = boundStep(
      setting,
      row.filter((_, c) => use(c)),
      o,
    );
    steps.push(step);
    if (!step.passed) break;
    chosen = { index: s, setting };
  }
  return { family: table.family.name, ...(chosen !== undefined && { chosen }), steps };
}

/** A curve's result under a calibration's choice (run to its end when nothing was chosen). */
export function resultUnder(table: FamilyTable, c: Calibration, curveIndex: number): CurveResult {
  const curve = table.curves[curveIndex];
  if (curve === undefined) throw new Error(`no curve ${curveIndex}`);
  if (c.chosen === undefined) return measureStop(curve, curve.points.length - 1, false);
  const r = table.results[c.chosen.index]?.[curveIndex];
  if (r === undefined) throw new Error(`no result for curve ${curveIndex}`);
  return r;
}
