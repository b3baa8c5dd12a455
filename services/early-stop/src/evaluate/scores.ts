import { monitorLevel } from "../convergence/check.js";
import { makePolicyConfig } from "../convergence/config.js";
import { FORECAST_MODEL, forecastScoreAt, type ForecastModel } from "../convergence/forecast.js";
import { FoldHistory } from "../convergence/history.js";
import type { Curve } from "./curves.js";

// Forecast's stop epoch for every maxGain at once. The check stops a fold at the first epoch
// whose last `consecutive` forecast scores are all below maxGain (forecastScoreAt, the code
// the controller runs), so one pass over a curve gives the score of every epoch, and the stop
// for any maxGain is a scan of that series: what makes a calibration over a grid of settings
// and a leave-one-source-out loop over 80 curves take seconds. replay.ts gives the same stops
// through FoldState (tested).

/** Per epoch index: the largest score over the window of `consecutive` epochs ending there. */
export function windowedForecastScores(
  curve: Curve,
  spec: Record<string, unknown> = { policy: "Forecast" },
  model: ForecastModel = FORECAST_MODEL,
): Float64Array {
  const cfg = makePolicyConfig(spec, curve.maxEpochs);
  const h = new FoldHistory();
  const raw = new Float64Array(curve.points.length);
  let best = Number.NEGATIVE_INFINITY;
  curve.points.forEach((p, i) => {
    h.append(p);
    const v = monitorLevel(p, cfg.earlyStop.monitor);
    if (v !== undefined && v > best) best = v;
    raw[i] = forecastScoreAt(h, cfg, i, best, model).score;
  });
  const k = model.consecutive;
  const minIndex = cfg.earlyStop.minEpochs - 1;
  const out = new Float64Array(raw.length).fill(Number.POSITIVE_INFINITY);
  for (let i = Math.max(k - 1, minIndex); i < raw.length; i++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let j = i - k + 1; j <= i; j++) m = Math.max(m, raw[j] ?? Number.POSITIVE_INFINITY);
    out[i] = m;
  }
  return out;
}
