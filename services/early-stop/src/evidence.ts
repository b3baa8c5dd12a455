import type { StopDecision, StopForecast } from "@nnunet-operator/api";
import { monitorLevel } from "./convergence/check.js";
import type { PolicyConfig } from "./convergence/config.js";
import type { Decision } from "./convergence/decide.js";
import { FORECAST_MODEL, forecastAt, forecastScoreAt } from "./convergence/forecast.js";
import type { FoldHistory } from "./convergence/history.js";

// The evidence a stop decision carries on the Job, so that `kubectl nnunet explain` can
// show it and the operator can price an audited stop: the forecast the Forecast policy
// rested on at the decision epoch, and the fold's logged training time up to that epoch.
// Read from the history only (pure); outside convergence/ because it describes a decision
// rather than taking one.

/**
 * The forecast at the decision epoch, as the Forecast policy scored it (forecastScoreAt: the
 * trend's bound, held up by the SteadyGain guard's lower bound, or the turn's when the
 * annealing model says the best cannot be won back): the trend's gain and bound, or the
 * turn's when it was the turn that stopped the fold.
 */
export function forecastEvidence(h: FoldHistory, cfg: PolicyConfig, epoch: number): StopForecast | undefined {
  const index = h.points.findIndex((p) => p.epoch === epoch);
  if (index < 0) return undefined;
  const { forecast, monitor } = cfg.earlyStop;
  const common = { confidence: forecast.confidence, maxGain: forecast.maxGain, maxEpochs: cfg.maxEpochs };
  let best = Number.NEGATIVE_INFINITY;
  for (let i = 0; i <= index; i++)
    best = Math.max(best, monitorLevel(h.points[i]!, monitor) ?? Number.NEGATIVE_INFINITY);
  const scored = forecastScoreAt(h, cfg, index, best);
  const trend = scored.trend;
  if (trend === undefined) return undefined;
  const byTurn =
    scored.turnGainUpper !== undefined && scored.turnGainUpper < 0 && !(trend.gainUpper < forecast.maxGain);
  if (!byTurn)
    return {
      ...common,
      gain: FORECAST_MODEL.trendGainFactor * trend.slope * trend.epochsLeft,
      gainUpper: Math.max(trend.gainUpper, scored.guardGainLower ?? 0),
      epochsLeft: trend.epochsLeft,
    };
  const turn = forecastAt(h, cfg, index, best);
  if (typeof turn === "string") return undefined;
  // Gain over the best so far that the annealing left is predicted to bring (negative: it cannot win the best back).
  return {
    ...common,
    gain: turn.level + Math.max(0, turn.gainPerAnnealing) * turn.annealingLeft - best,
    gainUpper: turn.gainUpper,
    epochsLeft: trend.epochsLeft,
  };
}

/** Sum of the logged epoch times through `epoch`, or undefined when no epoch had a time. */
export function trainedSeconds(h: FoldHistory, epoch: number): number | undefined {
  let sum = 0;
  let timed = false;
  for (const p of h.points) {
    if (p.epoch > epoch) break;
    if (p.epochTimeSeconds !== undefined && Number.isFinite(p.epochTimeSeconds)) {
      sum += p.epochTimeSeconds;
      timed = true;
    }
  }
  return timed ? sum : undefined;
}

/** The optional fields of the annotation payload that carry the evidence. */
export function decisionEvidence(
  h: FoldHistory,
  cfg: PolicyConfig,
  d: Decision,
): Pick<StopDecision, "forecast" | "trainedSeconds"> {
  const forecast = d.policy === "Forecast" ? forecastEvidence(h, cfg, d.epoch) : undefined;
  const seconds = trainedSeconds(h, d.epoch);
  return {
    ...(forecast !== undefined && { forecast: round(forecast) }),
    ...(seconds !== undefined && { trainedSeconds: Math.round(seconds * 1000) / 1000 }),
  };
}

function round(f: StopForecast): StopForecast {
  const r = (x: number): number => Math.round(x * 1e6) / 1e6;
  return { ...f, gain: r(f.gain), gainUpper: r(f.gainUpper) };
}
