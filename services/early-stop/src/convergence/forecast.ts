import { displayLevel, monitorLevel, monitorSignal, type Check } from "./check.js";
import type { PolicyConfig } from "./config.js";
import type { FoldHistory } from "./history.js";
import { polyLrFactor } from "./schedule.js";

// Forecast, our default: predict how much the rest of the PolyLR schedule can still add to
// the best EMA pseudo Dice, and stop when even an upper confidence bound of that gain is
// below maxGain.
//
// Model. Under PolyLR most late gains come from the learning rate going down (annealing),
// so the remaining gain is modelled as proportional to how much "annealing" is left:
// x(e) = (lr(e)/lr0)^LR_EXPONENT, which falls from 1 to 0 over the planned schedule. On a
// trailing window of epochs the raw mean pseudo Dice is fitted by least squares as
// y = a + b*x; the level now is a + b*x_now, and the schedule would add -b per unit of x
// for the x_now still to come. Upper bound = (level + z*se_level) + max(0, -b + z*se_b)*x_now,
// minus the best EMA so far, with z the normal quantile of `confidence`. A fitted slope of
// the wrong sign (Dice falling as lr falls) is clamped to zero rather than trusted: it would
// predict a loss. The exponent below 1 stretches the end of the schedule, where real curves
// keep creeping up at tiny learning rates more than a linear-in-lr model expects.
//
// Guards, each from the evaluation on the real curves (npm run evaluate): the forecast needs
// MIN_PROGRESS of the schedule (early on lr has hardly moved, so any extrapolation to zero is
// a guess), and the bound must hold for CONSECUTIVE epochs in a row (one noisy epoch must not
// stop a fold).

export const FORECAST_MODEL = {
  lrExponent: 0.7,
  windowFraction: 0.4,
  minWindow: 30,
  minProgress: 0.2,
  consecutive: 5,
} as const;

export interface ForecastEstimate {
  readonly epoch: number;
  /** Upper confidence bound of the gain in best level the rest of the schedule can bring. */
  readonly gainUpper: number;
  /** Fitted level now and slope per unit of remaining annealing (positive: still gaining). */
  readonly level: number;
  readonly gainPerAnnealing: number;
  readonly annealingLeft: number;
  readonly best: number;
}

/** The forecast made at points[index] (only epochs up to it are used), or why there is none. */
export function forecastAt(h: FoldHistory, cfg: PolicyConfig, index: number, bestLevel: number): ForecastEstimate | string {
  const { maxEpochs } = cfg;
  const { monitor, forecast } = cfg.earlyStop;
  const at = h.points[index];
  if (at === undefined) return "no epoch";
  const s = at.epoch;
  if (s < FORECAST_MODEL.minProgress * maxEpochs) return `needs ${FORECAST_MODEL.minProgress * 100}% of the schedule`;
  const x = annealingCurve(maxEpochs);
  const window = Math.max(FORECAST_MODEL.minWindow, Math.floor(FORECAST_MODEL.windowFraction * (s + 1)));
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let j = index; j >= 0; j--) {
    const p = h.points[j];
    if (p === undefined || p.epoch <= s - window) break;
    const y = monitorSignal(p, monitor);
    if (y === undefined) continue;
    const xj = p.epoch < maxEpochs ? (x[p.epoch] ?? 0) : 0;
    n += 1;
    sx += xj;
    sy += y;
    sxx += xj * xj;
    sxy += xj * y;
    syy += y * y;
  }
  if (n < FORECAST_MODEL.minWindow / 2) return `only ${n} epochs with a value in the window`;
  const xm = sx / n;
  const cxx = sxx - sx * xm;
  if (!(cxx > 0)) return "learning rate constant over the window";
  const b = (sxy - sx * (sy / n)) / cxx;
  const a = sy / n - b * xm;
  const ssr = Math.max(0, syy - (sy * sy) / n - b * b * cxx);
  const s2 = ssr / Math.max(1, n - 2);
  const xNow = s < maxEpochs ? (x[s] ?? 0) : 0;
  const z = normalQuantile(forecast.confidence);
  const level = a + b * xNow;
  const seLevel = Math.sqrt(s2 * (1 / n + ((xNow - xm) * (xNow - xm)) / cxx));
  const seSlope = Math.sqrt(s2 / cxx);
  const gainPerAnnealing = Math.max(0, -b + z * seSlope);
  const gainUpper = level + z * seLevel + gainPerAnnealing * xNow - bestLevel;
  return { epoch: s, gainUpper, level, gainPerAnnealing: -b, annealingLeft: xNow, best: bestLevel };
}

export function checkForecast(h: FoldHistory, cfg: PolicyConfig): Check {
  const { monitor, forecast } = cfg.earlyStop;
  const k = FORECAST_MODEL.consecutive;
  if (h.length < k) return { matched: false, reason: "Forecasting", message: "too few epochs" };
  // Best level up to each of the last k epochs.
  const bests: number[] = [];
  let best = Number.NEGATIVE_INFINITY;
  h.points.forEach((p, i) => {
    const v = monitorLevel(p, monitor);
    if (v !== undefined && v > best) best = v;
    if (i >= h.length - k) bests.push(best);
  });
  let last: ForecastEstimate | undefined;
  for (let i = 0; i < k; i++) {
    const index = h.length - k + i;
    const f = forecastAt(h, cfg, index, bests[i] ?? Number.NEGATIVE_INFINITY);
    if (typeof f === "string") return { matched: false, reason: "Forecasting", message: f };
    if (!(f.gainUpper < forecast.maxGain)) {
      return { matched: false, reason: "StillGaining", message: describe(f, cfg, "at least") };
    }
    last = f;
  }
  return { matched: true, reason: "Converged", message: last === undefined ? "" : `${describe(last, cfg, "at most")} for ${k} epochs in a row; ${displayLevel(last.best, monitor)} is the best so far` };
}

function describe(f: ForecastEstimate, cfg: PolicyConfig, bound: string): string {
  const { forecast } = cfg.earlyStop;
  const left = Math.max(0, cfg.maxEpochs - f.epoch - 1);
  return `the remaining ${left} of ${cfg.maxEpochs} epochs are predicted to add ${bound} ${Math.max(0, f.gainUpper).toFixed(4)} (${forecast.confidence * 100}% bound; maxGain ${forecast.maxGain})`;
}

// x(e) for every epoch of a schedule, memoised per schedule length: a pure function's cache.
const curves = new Map<number, Float64Array>();
function annealingCurve(maxEpochs: number): Float64Array {
  let c = curves.get(maxEpochs);
  if (c === undefined) {
    c = new Float64Array(maxEpochs);
    for (let e = 0; e < maxEpochs; e++) c[e] = Math.pow(polyLrFactor(e, maxEpochs), FORECAST_MODEL.lrExponent);
    if (curves.size >= 64) curves.clear();
    curves.set(maxEpochs, c);
  }
  return c;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const poly = (k: number[], x: number) => k.reduce((acc, v) => acc * x + v, 0);
  if (p <= 0) return Number.NEGATIVE_INFINITY;
  if (p >= 1) return Number.POSITIVE_INFINITY;
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}
