import type { Curve } from "./curves.js";
import { LOSS_BUDGET } from "./replay.js";

// The oracle: the most GPU-seconds any stopping rule could save on a set of curves knowing
// each curve's future, under the loss budget (mean best-EMA loss at most LOSS_BUDGET.mean,
// none above LOSS_BUDGET.max). A knapsack over the curves: each curve's options are its
// new-best epochs (the earliest stop for each level of loss), losses are rounded up to
// 1e-5 so the answer is feasible; dynamic programming over the summed loss.

const UNIT = 1e-5;

interface Option {
  readonly lossUnits: number;
  readonly saved: number;
}

function options(curve: Curve): Option[] {
  const emas = curve.points.map((p) => p.emaPseudoDice ?? Number.NEGATIVE_INFINITY);
  const times = curve.points.map((p) => p.epochTimeSeconds ?? 0);
  const max = emas.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
  const after: number[] = new Array<number>(times.length).fill(0);
  for (let i = times.length - 2; i >= 0; i--) after[i] = (after[i + 1] ?? 0) + (times[i + 1] ?? 0);
  const out: Option[] = [];
  let best = Number.NEGATIVE_INFINITY;
  emas.forEach((e, i) => {
    if (!(e > best)) return;
    best = e;
    const loss = max - best;
    if (loss <= LOSS_BUDGET.max + 1e-12) out.push({ lossUnits: Math.ceil(loss / UNIT - 1e-9), saved: after[i] ?? 0 });
  });
  return out;
}

/** Fraction of the set's GPU-seconds the oracle saves. */
export function oracleSavedFraction(curves: readonly Curve[]): number {
  const total = curves.reduce((a, c) => a + c.points.reduce((b, p) => b + (p.epochTimeSeconds ?? 0), 0), 0);
  if (total <= 0 || curves.length === 0) return 0;
  const budget = Math.floor((LOSS_BUDGET.mean * curves.length) / UNIT + 1e-9);
  let dp = new Float64Array(budget + 1).fill(Number.NEGATIVE_INFINITY);
  dp[0] = 0;
  for (const curve of curves) {
    const next = new Float64Array(budget + 1).fill(Number.NEGATIVE_INFINITY);
    for (const o of options(curve)) {
      for (let b = o.lossUnits; b <= budget; b++) {
        const v = (dp[b - o.lossUnits] ?? Number.NEGATIVE_INFINITY) + o.saved;
        if (v > (next[b] ?? Number.NEGATIVE_INFINITY)) next[b] = v;
      }
    }
    dp = next;
  }
  let best = 0;
  for (const v of dp) if (v > best) best = v;
  return best / total;
}

/**
 * The per-curve bound: the fraction of GPU-seconds saved by stopping every curve at the first
 * epoch after which it gains at most `maxLoss` more (knowing its future). A rule whose loss
 * stays within the mean budget on every single curve, not just on average over a set, can save
 * no more than this: stopping any earlier loses more than `maxLoss` on that curve.
 */
export function perCurveBoundSavedFraction(curves: readonly Curve[], maxLoss: number = LOSS_BUDGET.mean): number {
  let total = 0;
  let saved = 0;
  for (const curve of curves) {
    const emas = curve.points.map((p) => p.emaPseudoDice ?? Number.NEGATIVE_INFINITY);
    const times = curve.points.map((p) => p.epochTimeSeconds ?? 0);
    const max = emas.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
    const stop = emas.findIndex((e) => max - e <= maxLoss + 1e-12);
    total += times.reduce((a, b) => a + b, 0);
    saved += times.slice(stop + 1).reduce((a, b) => a + b, 0);
  }
  return total > 0 ? saved / total : 0;
}
