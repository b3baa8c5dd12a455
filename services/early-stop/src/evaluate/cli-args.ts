import { parseArgs } from "node:util";
import { FORECAST_MODEL, type ForecastModel } from "../convergence/forecast.js";
import { CALIBRATION_DEFAULTS, MEAN_BOUNDS, type CalibrationOptions, type MeanBound } from "./calibrate.js";
import { PRESETS } from "./replay.js";

// The evaluator's command line, checked: a bad flag names itself and what it takes.

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const USAGE =
  `usage: evaluate --curves DIR [--policy ${Object.keys(PRESETS).join("|")}] [--json] [--min-length N] [--match REGEX] [--spec JSON] [--by-source]` +
  " [--protocol loso] [--calibrate] [--alpha A] [--delta D] [--tolerance T] [--mean-bound orders|wsr|hb] [--model JSON]";

export interface EvaluateArgs {
  readonly curves: string;
  readonly policy: string;
  readonly json: boolean;
  readonly minLength: number;
  readonly match: RegExp | undefined;
  readonly spec: Record<string, unknown> | undefined;
  readonly bySource: boolean;
  readonly mode: "loso" | "calibrate" | "fixed";
  readonly options: CalibrationOptions;
  readonly model: ForecastModel;
}

function json(flag: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`--${flag} is not JSON (${String(err)})`);
  }
}

function probability(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!(v > 0 && v < 1)) throw new UsageError(`--${flag} ${raw} must be a number between 0 and 1`);
  return v;
}

function model(raw: string | undefined): ForecastModel {
  if (raw === undefined) return FORECAST_MODEL;
  const out: Record<string, unknown> = { ...FORECAST_MODEL };
  for (const [k, v] of Object.entries(json("model", raw) as Record<string, unknown>)) {
    if (!(k in FORECAST_MODEL))
      throw new UsageError(
        `--model: ${k} is not a constant of FORECAST_MODEL (${Object.keys(FORECAST_MODEL).join(", ")})`,
      );
    if (typeof v !== typeof out[k])
      throw new UsageError(`--model: ${k} takes a ${typeof out[k]}, not ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out as ForecastModel;
}

export function parseEvaluateArgs(argv: readonly string[]): EvaluateArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      curves: { type: "string" },
      policy: { type: "string", default: "Forecast" },
      json: { type: "boolean", default: false },
      "min-length": { type: "string", default: "0" },
      match: { type: "string" },
      spec: { type: "string" },
      "by-source": { type: "boolean", default: false },
      protocol: { type: "string" },
      calibrate: { type: "boolean", default: false },
      alpha: { type: "string" },
      delta: { type: "string" },
      tolerance: { type: "string" },
      "mean-bound": { type: "string" },
      model: { type: "string" },
    },
  });
  if (values.curves === undefined) throw new UsageError("--curves is required: a folder of curve CSVs");
  if (PRESETS[values.policy] === undefined) throw new UsageError(`--policy ${values.policy} is unknown`);
  if (values.protocol !== undefined && values.protocol !== "loso")
    throw new UsageError(`--protocol ${values.protocol} is unknown: the one protocol is loso`);
  const minLength = Number(values["min-length"]);
  if (!Number.isInteger(minLength) || minLength < 0)
    throw new UsageError(`--min-length ${values["min-length"]} must be a whole number of epochs`);
  const meanBound = values["mean-bound"] ?? CALIBRATION_DEFAULTS.meanBound;
  if (!(MEAN_BOUNDS as readonly string[]).includes(meanBound))
    throw new UsageError(
      `--mean-bound ${meanBound} is unknown: orders (betting capital averaged over ${CALIBRATION_DEFAULTS.orders} random orders), wsr (Waudby-Smith-Ramdas over one random order) or hb (Hoeffding-Bentkus)`,
    );
  return {
    curves: values.curves,
    policy: values.policy,
    json: values.json,
    minLength,
    match: values.match === undefined ? undefined : new RegExp(values.match),
    spec: values.spec === undefined ? undefined : (json("spec", values.spec) as Record<string, unknown>),
    bySource: values["by-source"],
    mode: values.protocol === "loso" ? "loso" : values.calibrate ? "calibrate" : "fixed",
    options: {
      ...CALIBRATION_DEFAULTS,
      alpha: probability("alpha", values.alpha, CALIBRATION_DEFAULTS.alpha),
      delta: probability("delta", values.delta, CALIBRATION_DEFAULTS.delta),
      tolerance: probability("tolerance", values.tolerance, CALIBRATION_DEFAULTS.tolerance),
      meanBound: meanBound as MeanBound,
    },
    model: model(values.model),
  };
}
