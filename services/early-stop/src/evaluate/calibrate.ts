import { clopperPearsonUpper, hoeffdingBentkusUpper, waudbySmithRamdasUpper } from "./bounds.js";
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
//      its upper bound at confidence 1 - delta/2 is at most `meanBudget`; the bound is
//      Waudby-Smith-Ramdas' betting bound (default: best-EMA losses vary little, and it
//      adapts to that) or Hoeffding-Bentkus' (`meanBound: "hb"`, needs only the range).
// The two bounds share delta (Bonferroni), so both hold together with confidence 1 - delta
// for curves exchangeable with the calibration curves. The choice is the last setting that
// passed; when even the first fails, the policy never stops a fold.

export interface CalibrationOptions {
  readonly alpha: number;
  readonly tolerance: number;
  readonly delta: number;
  readonly meanBudget: number;
  readonly clip: number;
  readonly meanBound: "wsr" | "hb";
}

export const CALIBRATION_DEFAULTS: CalibrationOptions = { alpha: 0.1, tolerance: 0.005, delta: 0.1, meanBudget: LOSS_BUDGET.mean, clip: LOSS_BUDGET.max, meanBound: "wsr" };

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

/** One setting's bounds on a set of results. */
export function boundStep(setting: Setting, results: readonly CurveResult[], o: CalibrationOptions): CalibrationStep {
  const n = results.length;
  const exceeding = results.filter((r) => r.bestEmaLoss > o.tolerance).length;
  const exceedingUpper = clopperPearsonUpper(exceeding, n, o.delta / 2);
  const meanLoss = n > 0 ? results.reduce((a, r) => a + r.bestEmaLoss, 0) / n : 0;
  // Scaled to [0, 1], in the curves' order (fixed before any loss is seen: file names).
  const scaled = results.map((r) => Math.min(o.clip, Math.max(0, r.bestEmaLoss)) / o.clip);
  const scaledMean = n > 0 ? scaled.reduce((a, l) => a + l, 0) / n : 0;
  const meanLossUpper = o.clip * (o.meanBound === "hb" ? hoeffdingBentkusUpper(scaledMean, n, o.delta / 2) : waudbySmithRamdasUpper(scaled, o.delta / 2));
  const passed = n > 0 && exceedingUpper <= o.alpha && meanLossUpper <= o.meanBudget;
  return { setting, curves: n, exceeding, exceedingUpper, meanLoss, meanLossUpper, passed };
}

/** Calibrates a family on the curves of the table whose indices `use` selects. */
export function calibrate(table: FamilyTable, use: (curveIndex: number) => boolean, o: CalibrationOptions = CALIBRATION_DEFAULTS): Calibration {
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
