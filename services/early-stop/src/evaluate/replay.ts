import type { PolicyConfig } from "../convergence/config.js";
import { makePolicyConfig } from "../convergence/config.js";
import { FoldState } from "../convergence/fold-state.js";
import type { Curve } from "./curves.js";

// Replays a curve through the controller's own FoldState, epoch by epoch, and measures what
// stopping at its decision would have saved and lost.

export interface CurveResult {
  readonly name: string;
  readonly epochs: number;
  readonly maxEpochs: number;
  /** Last epoch trained; undefined when the policy never stopped. */
  readonly stopEpoch: number | undefined;
  readonly reason: string | undefined;
  readonly epochsSaved: number;
  readonly gpuSeconds: number;
  readonly gpuSecondsSaved: number;
  /** The curve's maximum EMA minus the best EMA up to the stop. */
  readonly bestEmaLoss: number;
}

export function replayCurve(curve: Curve, configFor: (c: Curve) => PolicyConfig): CurveResult {
  const state = new FoldState(configFor(curve));
  let stopIndex = curve.points.length - 1;
  let reason: string | undefined;
  for (let i = 0; i < curve.points.length; i++) {
    const p = curve.points[i];
    if (p === undefined) continue;
    const outcome = state.ingest(p, 0);
    if (outcome.accepted && outcome.decision !== undefined) {
      stopIndex = i;
      reason = outcome.decision.reason;
      break;
    }
  }
  return { ...measureStop(curve, stopIndex, reason !== undefined), reason };
}

/** What stopping a curve after points[stopIndex] saves and loses (stopped: false, the curve ran to its end). */
export function measureStop(curve: Curve, stopIndex: number, stopped: boolean): CurveResult {
  const times = curve.points.map((p) => p.epochTimeSeconds ?? 0);
  const gpuSeconds = times.reduce((a, b) => a + b, 0);
  const gpuSecondsSaved = times.slice(stopIndex + 1).reduce((a, b) => a + b, 0);
  const emas = curve.points.map((p) => p.emaPseudoDice ?? Number.NEGATIVE_INFINITY);
  const bestEmaLoss = Math.max(...emas) - Math.max(...emas.slice(0, stopIndex + 1));
  return {
    name: curve.name,
    epochs: curve.points.length,
    maxEpochs: curve.maxEpochs,
    stopEpoch: stopped ? curve.points[stopIndex]?.epoch : undefined,
    reason: undefined,
    epochsSaved: curve.points.length - 1 - stopIndex,
    gpuSeconds,
    gpuSecondsSaved,
    bestEmaLoss,
  };
}

export interface Summary {
  readonly curves: number;
  readonly epochsSavedFraction: number;
  readonly gpuSecondsSavedFraction: number;
  readonly oracleGpuSecondsSavedFraction: number;
  /** gpuSecondsSavedFraction / oracleGpuSecondsSavedFraction. */
  readonly ofOracle: number;
  readonly meanBestEmaLoss: number;
  readonly maxBestEmaLoss: number;
  readonly withinBudget: boolean;
}

export const LOSS_BUDGET = { mean: 0.002, max: 0.01 } as const;

export function summarize(results: readonly CurveResult[], oracleFraction: number): Summary {
  const sum = (f: (r: CurveResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const n = results.length;
  const gpu = sum((r) => r.gpuSeconds);
  const saved = gpu > 0 ? sum((r) => r.gpuSecondsSaved) / gpu : 0;
  const meanLoss = n > 0 ? sum((r) => r.bestEmaLoss) / n : 0;
  const maxLoss = results.reduce((a, r) => Math.max(a, r.bestEmaLoss), 0);
  return {
    curves: n,
    epochsSavedFraction: sum((r) => r.epochs) > 0 ? sum((r) => r.epochsSaved) / sum((r) => r.epochs) : 0,
    gpuSecondsSavedFraction: saved,
    oracleGpuSecondsSavedFraction: oracleFraction,
    ofOracle: oracleFraction > 0 ? saved / oracleFraction : 0,
    meanBestEmaLoss: meanLoss,
    maxBestEmaLoss: maxLoss,
    withinBudget: meanLoss <= LOSS_BUDGET.mean + 1e-12 && maxLoss <= LOSS_BUDGET.max + 1e-12,
  };
}

/** Named configurations the evaluator knows: the API defaults of each policy and the baselines. */
export const PRESETS: Readonly<Record<string, unknown>> = {
  Forecast: { policy: "Forecast" },
  Patience: { policy: "Patience" },
  Plateau: { policy: "Plateau" },
  Patience50: { policy: "Patience", patience: 50, minDelta: 0.001 },
  Patience100: { policy: "Patience", patience: 100, minDelta: 0.001 },
  Patience200: { policy: "Patience", patience: 200, minDelta: 0.0005 },
  // Ray's TrialPlateauStopper defaults: std 0.01, num_results 4, grace_period 4.
  PlateauRay: { policy: "Plateau", plateau: { window: 4, std: 0.01 }, minEpochs: 4 },
};

export const BASELINES = ["Patience50", "Patience100", "Patience200", "PlateauRay"] as const;

/** A preset's config for each curve, with earlyStop fields merged over it (one level deep). */
export function presetConfig(name: string, overrides: Record<string, unknown> = {}): (c: Curve) => PolicyConfig {
  const preset = PRESETS[name] as Record<string, unknown> | undefined;
  if (preset === undefined) throw new Error(`unknown policy ${name}; known: ${Object.keys(PRESETS).join(", ")}`);
  const spec: Record<string, unknown> = { ...preset };
  for (const [k, v] of Object.entries(overrides)) {
    const base = spec[k];
    spec[k] = isObject(base) && isObject(v) ? { ...base, ...v } : v;
  }
  return (c) => makePolicyConfig(spec, c.maxEpochs);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
