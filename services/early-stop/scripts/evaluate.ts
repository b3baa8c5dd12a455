import { resolve } from "node:path";
import { calibrate, tabulate } from "../src/evaluate/calibrate.js";
import { parseEvaluateArgs, UsageError, USAGE, type EvaluateArgs } from "../src/evaluate/cli-args.js";
import { readCurveDir } from "../src/evaluate/curves.js";
import { FAMILIES, forecastFamily } from "../src/evaluate/families.js";
import { formatCalibration, formatLoso } from "../src/evaluate/format-loso.js";
import { evaluateLoso } from "../src/evaluate/loso.js";
import { evaluateBySource, evaluatePolicies, formatEvaluation, formatSets } from "../src/evaluate/report.js";
import { sourcesFor } from "../src/evaluate/sources.js";

// npm run evaluate -w services/early-stop -- --curves DIR [--policy NAME] [--json]
//   [--min-length N] [--match REGEX] [--spec JSON] [--by-source]
//   [--protocol loso] [--calibrate] [--alpha A] [--delta D] [--tolerance T] [--mean-bound orders|wsr|hb]
//   [--model JSON]
// Replays every curve CSV in DIR through the controller's policy code (README: Evaluator).
// Fixed settings (default): per curve the stop epoch and what it saved and lost, then the
// policy beside the baselines and the oracle; --spec merges earlyStop fields over the policy's
// preset; --by-source prints the policy on every set the curves' sources make instead.
// --protocol loso: nested leave-one-source-out (a source is a repository, from SOURCES.md
// beside DIR), every policy family calibrated on the other sources: the figure we quote.
// --calibrate: the risk-controlled choice of each family's setting on all the given curves.
// --model merges constants over the controller's Forecast model for those two, to compare
// variants, e.g. '{"turn":true}' or '{"leftExponent":1}'.

let args: EvaluateArgs;
try {
  args = parseEvaluateArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err;
  process.stderr.write(`${err.message}\n${USAGE}\n`);
  process.exit(2);
}

// npm runs workspace scripts in the workspace folder; paths are meant from where it was called.
const base = process.env["INIT_CWD"] ?? process.cwd();
const dir = resolve(base, args.curves);
const curves = readCurveDir(dir).filter(
  (c) => c.points.length >= args.minLength && (args.match === undefined || args.match.test(c.name)),
);
const families = [forecastFamily(args.model), ...FAMILIES.filter((f) => f.name !== "Forecast")];
const print = (json: unknown, text: () => string) =>
  process.stdout.write(args.json ? `${JSON.stringify(json, null, 2)}\n` : text());

if (args.mode === "loso") {
  const e = evaluateLoso(curves, sourcesFor(dir), families, args.options);
  print(e, () => formatLoso(e, args.options));
} else if (args.mode === "calibrate") {
  const calibrations = families.map((f) => calibrate(tabulate(f, curves), () => true, args.options));
  print(calibrations, () => calibrations.map((c) => formatCalibration(c, curves.length, args.options)).join("\n"));
} else if (args.bySource) {
  const sets = evaluateBySource(curves, args.policy, args.spec);
  print({ policy: args.policy, sets }, () => formatSets(args.policy, sets));
} else {
  const evaluation = evaluatePolicies(curves, args.policy, args.spec);
  print(evaluation, () => formatEvaluation(evaluation));
}
