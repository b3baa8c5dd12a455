import { displayLevel, monitorLevel, monitorSignal, type Check } from "./check.js";
import type { PolicyConfig } from "./config.js";
import type { FoldHistory, LineSums } from "./history.js";
import { polyLrFactor } from "./schedule.js";

// Forecast, our default: predict how much the rest of the planned schedule can still add to
// the best EMA pseudo Dice, and stop once that prediction stays below maxGain. Each epoch
// gets one score (forecastScoreAt), the larger of:
//
// The trend (trendGainAt). Under PolyLR the gain a fold still has to make falls off roughly
// as the square of the schedule left (on the real curves in test/fixtures, G(p) ~ A(1-p)^2
// from 20% of the schedule on, p the fraction done), so the gain to come is about half of
// what the current rate of improvement would add if it held to the end: G ~ slope x epochs
// left / 2. The slope is fitted by least squares to the raw per-epoch signal over the last
// trendWindowFraction of the schedule and taken at its UPPER confidence bound.
//
// The guard (guardGainAt), against slow, steady gains: the same forecast from the slope over
// a long window (guardWindowFraction of the epochs so far) at its LOWER bound. A slope
// significantly above zero over hundreds of epochs is evidence of gain to come whatever the
// shorter window says; issue 13's worst run crept up +0.02 over 800 epochs.
//
// The turn (forecastAt), off in the controller's model since issue 13: the PolyLR annealing
// model of the level, y = a + b*x with x(e) = (lr(e)/lr0)^lrExponent on a trailing window;
// when even its upper bound stays below the best EMA so far the fold "turned down". Under
// leave-one-source-out it stopped folds that later crept up 0.015 (over the hard limit), so
// it is kept only for the evaluator to compare (--model '{"turn":true}').
//
// maxGain is calibrated on real curves with risk control (src/evaluate/calibrate.ts): the
// API default is that calibration's choice. leftExponent > 0 (a variant, off) judges the gain
// per share of the schedule left, gain / ((1 - p)^leftExponent).
//
// Guards, from the evaluation on the real curves: no forecast before minProgress of the
// schedule (early on the fits extrapolate a phase that is not the annealing one), and the
// condition must hold for `consecutive` epochs in a row (one noisy epoch must not stop a fold).

export const FORECAST_MODEL = {
  /** Trend: fraction of the planned schedule the slope is fitted over, and the fewest values. */
  trendWindowFraction: 0.3,
  trendMinWindow: 20,
  /** Trend: remaining gain = slope x epochs left x this (the (1-p)^2 fall-off). */
  trendGainFactor: 0.5,
  /** Turn: the annealing model's exponent and trailing window. */
  lrExponent: 0.7,
  windowFraction: 0.4,
  minWindow: 30,
  minProgress: 0.15,
  consecutive: 5,
  /** Guard: the long window's share of the epochs so far, and its fewest epochs. */
  guardWindowFraction: 0.5,
  guardMinWindow: 100,
  /** Which forecasts take part (the evaluator compares variants). */
  turn: false,
  guard: true,
  leftExponent: 0,
} as const;

/** The model's constants; FORECAST_MODEL is the controller's, the evaluator may compare others. */
export type ForecastModel = {
  readonly [K in keyof typeof FORECAST_MODEL]: (typeof FORECAST_MODEL)[K] extends boolean ? boolean : number;
};

export interface TrendEstimate {
  readonly epoch: number;
  /** Upper confidence bound of the gain the rest of the schedule brings (trend forecast). */
  readonly gainUpper: number;
  /** Fitted slope of the signal per epoch, and the epochs left in the schedule. */
  readonly slope: number;
  readonly epochsLeft: number;
}

/** The epoch of points[index] if a forecast may be made there, or why not. */
function forecastEpoch(h: FoldHistory, maxEpochs: number, index: number, model: ForecastModel): number | string {
  const at = h.points[index];
  if (at === undefined) return "no epoch";
  if (at.epoch < model.minProgress * maxEpochs) return `needs ${model.minProgress * 100}% of the schedule`;
  return at.epoch;
}

/** The trend forecast made at points[index], or why there is none. */
export function trendGainAt(
  h: FoldHistory,
  cfg: PolicyConfig,
  index: number,
  model: ForecastModel = FORECAST_MODEL,
): TrendEstimate | string {
  const { maxEpochs } = cfg;
  const { monitor, forecast } = cfg.earlyStop;
  const s = forecastEpoch(h, maxEpochs, index, model);
  if (typeof s === "string") return s;
  const window = Math.max(model.trendMinWindow, Math.floor(model.trendWindowFraction * maxEpochs));
  const fit = fitSums(h.lineSums(monitor === "ValLoss" ? "negValLoss" : "pseudoDice", index, window));
  if (typeof fit === "string") return fit;
  if (fit.n < model.trendMinWindow / 2) return `only ${fit.n} epochs with a value in the window`;
  const z = normalQuantile(forecast.confidence);
  const slopeUpper = fit.b + z * fit.seB;
  const epochsLeft = Math.max(0, maxEpochs - s - 1);
  return { epoch: s, gainUpper: model.trendGainFactor * slopeUpper * epochsLeft, slope: fit.b, epochsLeft };
}

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

/** The annealing forecast made at points[index] (only epochs up to it are used), or why there is none. */
export function forecastAt(
  h: FoldHistory,
  cfg: PolicyConfig,
  index: number,
  bestLevel: number,
  model: ForecastModel = FORECAST_MODEL,
): ForecastEstimate | string {
  const { maxEpochs } = cfg;
  const { monitor, forecast } = cfg.earlyStop;
  const s = forecastEpoch(h, maxEpochs, index, model);
  if (typeof s === "string") return s;
  const x = annealingCurve(maxEpochs);
  const window = Math.max(model.minWindow, Math.floor(model.windowFraction * (s + 1)));
  const fit = leastSquares(h, index, window, monitor, (e) => (e < maxEpochs ? (x[e] ?? 0) : 0));
  if (typeof fit === "string") return fit === "constant" ? "learning rate constant over the window" : fit;
  if (fit.n < model.minWindow / 2) return `only ${fit.n} epochs with a value in the window`;
  const xNow = s < maxEpochs ? (x[s] ?? 0) : 0;
  const z = normalQuantile(forecast.confidence);
  const level = fit.a + fit.b * xNow;
  const seLevel = Math.sqrt(fit.s2 * (1 / fit.n + ((xNow - fit.xMean) * (xNow - fit.xMean)) / fit.cxx));
  const gainPerAnnealing = Math.max(0, -fit.b + z * fit.seB);
  const gainUpper = level + z * seLevel + gainPerAnnealing * xNow - bestLevel;
  return { epoch: s, gainUpper, level, gainPerAnnealing: -fit.b, annealingLeft: xNow, best: bestLevel };
}

interface Fit {
  readonly n: number;
  readonly a: number;
  readonly b: number;
  readonly seB: number;
  readonly s2: number;
  readonly xMean: number;
  readonly cxx: number;
}

/** y = a + b*x by least squares from a window's sums. */
function fitSums({ n, sx, sy, sxx, sxy, syy }: LineSums): Fit | string {
  if (n < 3) return `only ${n} epochs with a value in the window`;
  const xMean = sx / n;
  const cxx = sxx - sx * xMean;
  if (!(cxx > 0)) return "constant";
  const b = (sxy - sx * (sy / n)) / cxx;
  const a = sy / n - b * xMean;
  const s2 = Math.max(0, syy - (sy * sy) / n - b * b * cxx) / Math.max(1, n - 2);
  return { n, a, b, seB: Math.sqrt(s2 / cxx), s2, xMean, cxx };
}

/** y = a + b*x by least squares over the epochs in (epoch at index - window, epoch at index]. */
function leastSquares(
  h: FoldHistory,
  index: number,
  window: number,
  monitor: PolicyConfig["earlyStop"]["monitor"],
  xOf: (epoch: number) => number,
): Fit | string {
  const s = h.points[index]?.epoch ?? 0;
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
    const xj = xOf(p.epoch);
    n += 1;
    sx += xj;
    sy += y;
    sxx += xj * xj;
    sxy += xj * y;
    syy += y * y;
  }
  return fitSums({ n, sx, sy, sxx, sxy, syy });
}

/** What the forecast at one epoch rests on, and the one number a setting of maxGain is compared with. */
export interface ForecastScore {
  /**
   * The gain bound the epoch is judged by: the fold may stop at this epoch when it is below
   * maxGain. -Infinity when the turn says stop and the guard does not object; +Infinity when
   * no forecast may be made yet.
   */
  readonly score: number;
  readonly trend?: TrendEstimate;
  /** The guard's lower bound of the gain still to come (steady gains over a long window). */
  readonly guardGainLower?: number;
  readonly turnGainUpper?: number;
  readonly why?: string;
}

/**
 * The guard against slow, steady gains: the raw signal's slope over a long trailing window
 * (GUARD_WINDOW of the epochs so far), at its LOWER confidence bound, times half the epochs
 * left. A slope significantly above zero over hundreds of epochs is evidence of gain to come
 * whatever the shorter trend or the annealing model say; this is the gain it proves.
 */
export function guardGainAt(
  h: FoldHistory,
  cfg: PolicyConfig,
  index: number,
  model: ForecastModel = FORECAST_MODEL,
): number | string {
  const s = h.points[index]?.epoch;
  if (s === undefined) return "no epoch";
  const window = Math.max(model.guardMinWindow, Math.floor(model.guardWindowFraction * (s + 1)));
  const fit = fitSums(h.lineSums(cfg.earlyStop.monitor === "ValLoss" ? "negValLoss" : "pseudoDice", index, window));
  if (typeof fit === "string") return fit;
  const z = normalQuantile(cfg.earlyStop.forecast.confidence);
  const epochsLeft = Math.max(0, cfg.maxEpochs - s - 1);
  return model.trendGainFactor * Math.max(0, fit.b - z * fit.seB) * epochsLeft;
}

/** The forecast made at points[index] with the best level up to it, as one score (see ForecastScore). */
export function forecastScoreAt(
  h: FoldHistory,
  cfg: PolicyConfig,
  index: number,
  bestLevel: number,
  model: ForecastModel = FORECAST_MODEL,
): ForecastScore {
  const trend = trendGainAt(h, cfg, index, model);
  if (typeof trend === "string") return { score: Number.POSITIVE_INFINITY, why: trend };
  const guard = model.guard ? guardGainAt(h, cfg, index, model) : 0;
  const guardGainLower = typeof guard === "number" ? guard : 0;
  const turn = model.turn ? forecastAt(h, cfg, index, bestLevel, model) : "turn off";
  const turnGainUpper = typeof turn === "string" ? undefined : turn.gainUpper;
  const turnSays = turnGainUpper !== undefined && turnGainUpper < 0;
  const gain = Math.max(guardGainLower, turnSays ? Number.NEGATIVE_INFINITY : trend.gainUpper);
  const score =
    model.leftExponent === 0 ? gain : gain / Math.max(1e-9, trend.epochsLeft / cfg.maxEpochs) ** model.leftExponent;
  return { score, trend, guardGainLower, ...(turnGainUpper !== undefined && { turnGainUpper }) };
}

export function checkForecast(h: FoldHistory, cfg: PolicyConfig, model: ForecastModel = FORECAST_MODEL): Check {
  const { monitor, forecast } = cfg.earlyStop;
  const k = model.consecutive;
  if (h.length < k) return { matched: false, reason: "Forecasting", message: "too few epochs" };
  // Best level up to each of the last k epochs.
  const bests: number[] = [];
  let best = Number.NEGATIVE_INFINITY;
  h.points.forEach((p, i) => {
    const v = monitorLevel(p, monitor);
    if (v !== undefined && v > best) best = v;
    if (i >= h.length - k) bests.push(best);
  });
  // The latest epoch first: a message names where the fold is now.
  let why = "";
  for (let i = k - 1; i >= 0; i--) {
    const f = forecastScoreAt(h, cfg, h.length - k + i, bests[i] ?? Number.NEGATIVE_INFINITY, model);
    if (f.trend === undefined) return { matched: false, reason: "Forecasting", message: f.why ?? "no forecast" };
    if (f.score < forecast.maxGain) {
      why ||=
        f.turnGainUpper !== undefined && f.turnGainUpper < 0 && !(f.trend.gainUpper < forecast.maxGain)
          ? `even the ${forecast.confidence * 100}% bound of the level the annealing left can reach stays ${(-f.turnGainUpper).toFixed(4)} below the best`
          : describeTrend(f.trend, cfg, "at most");
      continue;
    }
    if ((f.guardGainLower ?? 0) >= forecast.maxGain) {
      return {
        matched: false,
        reason: "SteadyGain",
        message: `the slope over the last ${Math.round(model.guardWindowFraction * 100)}% of the epochs is significantly positive: the remaining ${f.trend.epochsLeft} epochs are predicted to add at least ${(f.guardGainLower ?? 0).toFixed(4)}`,
      };
    }
    return { matched: false, reason: "StillGaining", message: describeTrend(f.trend, cfg, "at least") };
  }
  return {
    matched: true,
    reason: "Converged",
    message: `${why} for ${k} epochs in a row; ${displayLevel(best, monitor)} is the best so far`,
  };
}

function describeTrend(t: TrendEstimate, cfg: PolicyConfig, bound: string): string {
  const { forecast } = cfg.earlyStop;
  return `the remaining ${t.epochsLeft} of ${cfg.maxEpochs} epochs are predicted to add ${bound} ${Math.max(0, t.gainUpper).toFixed(4)} (${forecast.confidence * 100}% bound; maxGain ${forecast.maxGain})`;
}

// x(e) for every epoch of a schedule, memoised per schedule length: a pure function's cache.
const curves = new Map<number, Float64Array>();
function annealingCurve(maxEpochs: number): Float64Array {
  let c = curves.get(maxEpochs);
  if (c === undefined) {
    c = new Float64Array(maxEpochs);
    for (let e = 0; e < maxEpochs; e++) c[e] = polyLrFactor(e, maxEpochs) ** FORECAST_MODEL.lrExponent;
    if (curves.size >= 64) curves.clear();
    curves.set(maxEpochs, c);
  }
  return c;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
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
