import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { readCurveDir } from "../src/evaluate/curves.js";
import { evaluateBySource, evaluatePolicies, formatEvaluation, formatSets } from "../src/evaluate/report.js";
import { PRESETS } from "../src/evaluate/replay.js";

// npm run evaluate -w services/early-stop -- --curves DIR [--policy NAME] [--json]
//   [--min-length N] [--match REGEX] [--spec JSON] [--by-source]
// --spec merges earlyStop fields over the policy's preset (e.g. '{"forecast":{"maxGain":0.003}}').
// Replays every curve CSV in DIR through the controller's policy code and prints, per curve,
// the stop epoch and what stopping there saved and lost, then the policy beside the
// baselines and the oracle. --json prints one JSON object instead. --by-source prints the
// policy on every set the curves' sources make instead (all, each source alone, all but each).

const { values } = parseArgs({
  options: {
    curves: { type: "string" },
    policy: { type: "string", default: "Forecast" },
    json: { type: "boolean", default: false },
    "min-length": { type: "string", default: "0" },
    match: { type: "string" },
    spec: { type: "string" },
    "by-source": { type: "boolean", default: false },
  },
});

if (values.curves === undefined || PRESETS[values.policy] === undefined) {
  process.stderr.write(`usage: evaluate --curves DIR [--policy ${Object.keys(PRESETS).join("|")}] [--json] [--min-length N] [--match REGEX] [--spec JSON] [--by-source]\n`);
  process.exit(2);
}

// npm runs workspace scripts in the workspace folder; paths are meant from where it was called.
const base = process.env["INIT_CWD"] ?? process.cwd();
const minLength = Number(values["min-length"]);
const match = values.match === undefined ? undefined : new RegExp(values.match);
const curves = readCurveDir(resolve(base, values.curves)).filter(
  (c) => c.points.length >= minLength && (match === undefined || match.test(c.name)),
);
const overrides = values.spec === undefined ? undefined : (JSON.parse(values.spec) as Record<string, unknown>);
if (values["by-source"]) {
  const sets = evaluateBySource(curves, values.policy, overrides);
  process.stdout.write(values.json ? `${JSON.stringify({ policy: values.policy, sets }, null, 2)}\n` : formatSets(values.policy, sets));
} else {
  const evaluation = evaluatePolicies(curves, values.policy, overrides);
  process.stdout.write(values.json ? `${JSON.stringify(evaluation, null, 2)}\n` : formatEvaluation(evaluation));
}
