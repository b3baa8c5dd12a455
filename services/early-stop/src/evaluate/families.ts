import { makePolicyConfig } from "../convergence/config.js";
import { FoldHistory } from "../convergence/history.js";
import { FORECAST_MODEL, type ForecastModel } from "../convergence/forecast.js";
import { windowedForecastScores } from "./scores.js";
import type { Curve } from "./curves.js";

// The policies the calibration chooses settings for: each a family of settings ordered from
// the most conservative (stops least) to the most aggressive, and a score per epoch such that
// a setting stops a curve at the first epoch whose score is below the setting's threshold.
// One pass per curve then gives the stop of every setting. The grids are the plausible range
// of each knob, fixed before looking at any result; they are not per-curve tuning.

export interface Setting {
  readonly label: string;
  /** The earlyStop fields this setting is (what a TrainingRun would say). */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly threshold: number;
}

export interface PolicyFamily {
  readonly name: string;
  readonly settings: readonly Setting[];
  scores(curve: Curve): Float64Array;
}

/** The first index whose score is below the threshold, or the last index when none is (never stopped). */
export function stopIndexOf(scores: Float64Array, threshold: number): { index: number; stopped: boolean } {
  for (let i = 0; i < scores.length; i++)
    if ((scores[i] ?? Number.POSITIVE_INFINITY) < threshold) return { index: i, stopped: true };
  return { index: scores.length - 1, stopped: false };
}

/**
 * Forecast (the policy): maxGain from 0.0005 to 0.006, with the controller's model or another
 * (the evaluator's --model, for comparing variants; those with leftExponent > 0 judge the
 * gain per share of the schedule left, so their maxGain grid reaches higher).
 */
export function forecastFamily(model: ForecastModel = FORECAST_MODEL): PolicyFamily {
  const grid = [0.0005, 0.00075, 0.001, 0.00125, 0.0015, 0.00175, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.006];
  const extra = model.leftExponent > 0 ? [0.008, 0.01, 0.0125, 0.015, 0.02] : [];
  return {
    name: "Forecast",
    settings: [...grid, ...extra].map((maxGain) => ({
      label: `maxGain ${maxGain}`,
      spec: { policy: "Forecast", forecast: { maxGain } },
      threshold: maxGain,
    })),
    scores: (curve) => windowedForecastScores(curve, { policy: "Forecast" }, model),
  };
}

export const FORECAST_FAMILY: PolicyFamily = forecastFamily();

/** Per epoch, a quantity computed by walking the history once; +Infinity before minEpochs. */
function perEpoch(curve: Curve, spec: Record<string, unknown>, f: (h: FoldHistory, i: number) => number): Float64Array {
  const minIndex = makePolicyConfig(spec, curve.maxEpochs).earlyStop.minEpochs - 1;
  const h = new FoldHistory();
  const out = new Float64Array(curve.points.length);
  curve.points.forEach((p, i) => {
    h.append(p);
    out[i] = i < minIndex ? Number.POSITIVE_INFINITY : f(h, i);
  });
  return out;
}

const PATIENCE_MIN_DELTA = 0.0005;

/** Patience on the EMA (minDelta 0.0005, as the Patience 200 baseline): patience 500 down to 30 epochs. */
export const PATIENCE_FAMILY: PolicyFamily = {
  name: "Patience",
  settings: [500, 400, 300, 250, 200, 150, 100, 75, 50, 30].map((patience) => ({
    label: `patience ${patience}`,
    spec: { policy: "Patience", patience, minDelta: PATIENCE_MIN_DELTA },
    // Stops when the epochs without improvement reach `patience`: score -wait below -patience + 1/2.
    threshold: -patience + 0.5,
  })),
  scores: (curve) => {
    // The wait counter of checkPatience does not depend on `patience`: one pass serves all.
    let best = Number.NEGATIVE_INFINITY;
    let wait = 0;
    return perEpoch(curve, { policy: "Patience" }, (h, i) => {
      const v = h.points[i]?.emaPseudoDice;
      if (v !== undefined && Number.isFinite(v)) {
        wait += 1;
        if (v - PATIENCE_MIN_DELTA > best) {
          best = v;
          wait = 0;
        }
      }
      return -wait;
    });
  },
};

const PLATEAU_WINDOW = 50;

/** Plateau (Ray Tune's rule) on the EMA over 50 epochs: std 0.0002 up to 0.005. */
export const PLATEAU_FAMILY: PolicyFamily = {
  name: "Plateau",
  settings: [0.0002, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005].map((std) => ({
    label: `std ${std}`,
    spec: { policy: "Plateau", plateau: { window: PLATEAU_WINDOW, std } },
    threshold: std,
  })),
  scores: (curve) =>
    perEpoch(curve, { policy: "Plateau" }, (h, i) => {
      const values: number[] = [];
      for (let j = i; j >= 0 && values.length < PLATEAU_WINDOW; j--) {
        const v = h.points[j]?.emaPseudoDice;
        if (v !== undefined && Number.isFinite(v)) values.push(v);
      }
      if (values.length < PLATEAU_WINDOW) return Number.POSITIVE_INFINITY;
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    }),
};

export const FAMILIES: readonly PolicyFamily[] = [FORECAST_FAMILY, PATIENCE_FAMILY, PLATEAU_FAMILY];
