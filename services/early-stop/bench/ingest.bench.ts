import { fileURLToPath } from "node:url";
import { EpochMetrics, encodeLoss, type EarlyStopPolicy } from "@nnunet-operator/api";
import { makePolicyConfig, type PolicyConfig } from "../src/convergence/config.js";
import { decideStop } from "../src/convergence/decide.js";
import { FoldHistory, pointFromMetrics } from "../src/convergence/history.js";
import { readCurveDir } from "../src/evaluate/curves.js";

// Sustained ingest of EpochMetrics into the controller's policy code, on one core: every
// epoch of the 62 real curves in test/fixtures, interleaved across folds as JetStream would
// deliver them, each appended to its fold's history and run through the decision chain.
// Every epoch is evaluated (a fold that has decided would skip the chain, which flatters the
// figure), so this is the cost while folds are still training, late epochs included.
// "json + zod" adds what the consumer does first: JSON.parse and EpochMetrics validation.
//
// npm run bench:early-stop   (target: at least 20,000 messages/s)

const CURVES = fileURLToPath(new URL("../../../test/fixtures/nnunet-logs/curves/", import.meta.url));
const MIN_SECONDS = Number(process.env["BENCH_SECONDS"] ?? 2);

const curves = readCurveDir(CURVES);
const folds = curves.map((c, i) => ({ curve: c, runUid: `uid-${i}` }));

// Round-robin over folds: message k of every fold before message k+1 of any.
const messages: { fold: number; json: string }[] = [];
const longest = Math.max(...curves.map((c) => c.points.length));
for (let e = 0; e < longest; e++) {
  folds.forEach((f, fold) => {
    const p = f.curve.points[e];
    if (p === undefined) return;
    const m = {
      schemaVersion: 1,
      namespace: "bench",
      run: `run-${fold}`,
      runUid: f.runUid,
      fold: "0",
      attempt: 0,
      epoch: p.epoch,
      ...(p.trainLoss !== undefined && { trainLoss: encodeLoss(p.trainLoss) }),
      ...(p.valLoss !== undefined && { valLoss: encodeLoss(p.valLoss) }),
      pseudoDice: [p.pseudoDiceMean ?? 0],
      ...(p.pseudoDiceMean !== undefined && { pseudoDiceMean: p.pseudoDiceMean }),
      ...(p.emaPseudoDice !== undefined && { emaPseudoDice: p.emaPseudoDice }),
      ...(p.epochTimeSeconds !== undefined && { epochTimeSeconds: p.epochTimeSeconds }),
      ...(p.learningRate !== undefined && { learningRate: p.learningRate }),
      observedAt: new Date(Date.UTC(2026, 0, 1) + e * 1000).toISOString(),
    };
    messages.push({ fold, json: JSON.stringify(m) });
  });
}
const parsed = messages.map((m) => ({ fold: m.fold, metrics: EpochMetrics.parse(JSON.parse(m.json)) }));

interface Row {
  scenario: string;
  policy: string;
  messages: number;
  seconds: number;
  rate: number;
}

function run(policy: EarlyStopPolicy, withJson: boolean): Row {
  const configs: PolicyConfig[] = folds.map((f) => makePolicyConfig({ policy }, f.curve.maxEpochs));
  let count = 0;
  let decisions = 0;
  const start = process.hrtime.bigint();
  let seconds = 0;
  while (seconds < MIN_SECONDS) {
    const histories = folds.map(() => new FoldHistory());
    for (let i = 0; i < messages.length; i++) {
      const fold = messages[i]?.fold ?? 0;
      const metrics = withJson ? EpochMetrics.parse(JSON.parse(messages[i]?.json ?? "")) : parsed[i]?.metrics;
      if (metrics === undefined) continue;
      const h = histories[fold];
      const cfg = configs[fold];
      if (h === undefined || cfg === undefined) continue;
      h.append(pointFromMetrics(metrics));
      if (decideStop(h, cfg) !== undefined) decisions += 1;
      count += 1;
    }
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
  }
  if (decisions === 0) throw new Error("the bench took no decision: it measures nothing real");
  return {
    scenario: withJson ? "json + zod + ingest + decide" : "ingest + decide",
    policy,
    messages: count,
    seconds,
    rate: count / seconds,
  };
}

const rows: Row[] = [];
for (const policy of ["Forecast", "Patience", "Plateau"] as const) {
  rows.push(run(policy, false));
  rows.push(run(policy, true));
}

const header = ["scenario", "policy", "messages", "seconds", "messages/s"];
const body = rows.map((r) => [
  r.scenario,
  r.policy,
  String(r.messages),
  r.seconds.toFixed(2),
  Math.round(r.rate).toLocaleString("en-US"),
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
const fmt = (cells: string[]) =>
  cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
process.stdout.write(
  `EpochMetrics ingest on one core: ${folds.length} folds, ${messages.length} messages per pass, node ${process.version}\n`,
);
process.stdout.write(`${fmt(header)}\n${fmt(widths.map((w) => "-".repeat(w)))}\n${body.map(fmt).join("\n")}\n`);
const worst = Math.min(...rows.map((r) => r.rate));
process.stdout.write(
  `slowest: ${Math.round(worst).toLocaleString("en-US")} messages/s (target 20,000): ${worst >= 20000 ? "met" : "NOT met"}\n`,
);
