import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { calibrate, tabulate, CALIBRATION_DEFAULTS, type CalibrationOptions } from "../src/evaluate/calibrate.js";
import { readCurveDir } from "../src/evaluate/curves.js";
import { FAMILIES, forecastFamily } from "../src/evaluate/families.js";
import { FORECAST_MODEL, type ForecastModel } from "../src/convergence/forecast.js";
import { formatCalibration, formatLoso } from "../src/evaluate/format-loso.js";
import { evaluateLoso } from "../src/evaluate/loso.js";
import { evaluateBySource, evaluatePolicies, formatEvaluation, formatSets } from "../src/evaluate/report.js";
import { PRESETS } from "../src/evaluate/replay.js";
import { sourcesFor } from "../src/evaluate/sources.js";

// npm run evaluate -w services/early-stop -- --curves DIR [--policy NAME] [--json]
//   [--min-length N] [--match REGEX] [--spec JSON] [--by-source]
//   [--protocol loso] [--calibrate] [--alpha A] [--delta D] [--tolerance T] [--mean-bound wsr|hb]
//   [--model JSON]
// --model merges constants over the controller's Forecast model (FORECAST_MODEL) for --protocol
// and --calibrate, to compare variants, e.g. '{"leftExponent":1}' or '{"turn":true}'.
// --spec merges earlyStop fields over the policy's preset (e.g. '{"forecast":{"maxGain":0.003}}').
// Replays every curve CSV in DIR through the controller's policy code and prints, per curve,
// the stop epoch and what stopping there saved and lost, then the policy beside the
// baselines and the oracle: figures on curves the settings may have been tuned on.
// --by-source prints the policy on every set the curves' sources make instead.
// --protocol loso: nested leave-one-source-out (a source is a repository, from SOURCES.md
// beside DIR), every policy family calibrated on the other sources: the figure we quote.
// --calibrate: the risk-controlled choice of each family's setting on all the given curves.

const { values } = parseArgs({
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

function usage(why: string): never {
  process.stderr.write(
    `${why}\nusage: evaluate --curves DIR [--policy ${Object.keys(PRESETS).join("|")}] [--json] [--min-length N] [--match REGEX] [--spec JSON] [--by-source] [--protocol loso] [--calibrate] [--alpha A] [--delta D] [--tolerance T] [--mean-bound wsr|hb] [--model JSON]\n`,
  );
  process.exit(2);
}

if (values.curves === undefined) usage("--curves is required: a folder of curve CSVs");
if (PRESETS[values.policy] === undefined) usage(`--policy ${values.policy} is unknown`);
if (values.protocol !== undefined && values.protocol !== "loso") usage(`--protocol ${values.protocol} is unknown: the one protocol is loso`);

function probability(name: "alpha" | "delta" | "tolerance"): number {
  const raw = values[name];
  if (raw === undefined) return CALIBRATION_DEFAULTS[name];
  const v = Number(raw);
  if (!(v > 0 && v < 1)) usage(`--${name} ${raw} must be a number between 0 and 1`);
  return v;
}
const meanBound = values["mean-bound"] ?? CALIBRATION_DEFAULTS.meanBound;
if (meanBound !== "wsr" && meanBound !== "hb") usage(`--mean-bound ${meanBound} is unknown: wsr (Waudby-Smith-Ramdas) or hb (Hoeffding-Bentkus)`);
const options: CalibrationOptions = { ...CALIBRATION_DEFAULTS, alpha: probability("alpha"), delta: probability("delta"), tolerance: probability("tolerance"), meanBound };

function parseModel(raw: string | undefined): ForecastModel {
  if (raw === undefined) return FORECAST_MODEL;
  let over: unknown;
  try {
    over = JSON.parse(raw);
  } catch (err) {
    usage(`--model is not JSON (${String(err)}): give constants of FORECAST_MODEL, e.g. '{"leftExponent":1}'`);
  }
  const model: Record<string, unknown> = { ...FORECAST_MODEL };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (!(k in FORECAST_MODEL) || typeof v !== typeof model[k]) usage(`--model: ${k} is not a ${typeof model[k]} constant of FORECAST_MODEL (${Object.keys(FORECAST_MODEL).join(", ")})`);
    model[k] = v;
  }
  return model as ForecastModel;
}
const families = [forecastFamily(parseModel(values.model)), ...FAMILIES.filter((f) => f.name !== "Forecast")];

// npm runs workspace scripts in the workspace folder; paths are meant from where it was called.
const base = process.env["INIT_CWD"] ?? process.cwd();
const dir = resolve(base, values.curves);
const minLength = Number(values["min-length"]);
const match = values.match === undefined ? undefined : new RegExp(values.match);
const curves = readCurveDir(dir).filter((c) => c.points.length >= minLength && (match === undefined || match.test(c.name)));
const overrides = values.spec === undefined ? undefined : (JSON.parse(values.spec) as Record<string, unknown>);
const print = (json: unknown, text: () => string) => process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : text());

if (values.protocol === "loso") {
  const e = evaluateLoso(curves, sourcesFor(dir), families, options);
  print(e, () => formatLoso(e, options));
} else if (values.calibrate) {
  const calibrations = families.map((f) => calibrate(tabulate(f, curves), () => true, options));
  print(calibrations, () => calibrations.map((c) => formatCalibration(c, curves.length, options)).join("\n"));
} else if (values["by-source"]) {
  const sets = evaluateBySource(curves, values.policy, overrides);
  print({ policy: values.policy, sets }, () => formatSets(values.policy, sets));
} else {
  const evaluation = evaluatePolicies(curves, values.policy, overrides);
  print(evaluation, () => formatEvaluation(evaluation));
}
