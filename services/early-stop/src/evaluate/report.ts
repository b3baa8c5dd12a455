import { oracleSavedFraction, perCurveBoundSavedFraction } from "./oracle.js";
import { BASELINES, presetConfig, replayCurve, summarize, type CurveResult, type Summary } from "./replay.js";
import type { Curve } from "./curves.js";

// The evaluation of one policy and the baselines on a set of curves, and its text form.

export interface Evaluation {
  readonly policy: string;
  readonly summary: Summary;
  readonly curves: readonly CurveResult[];
  readonly baselines: Readonly<Record<string, Summary>>;
  /** perCurveBoundSavedFraction of the set: the most a rule within the mean budget on every curve can save. */
  readonly perCurveBoundGpuSecondsSavedFraction: number;
}

export function evaluatePolicies(curves: readonly Curve[], policy: string, overrides?: Record<string, unknown>): Evaluation {
  const oracle = oracleSavedFraction(curves);
  const run = (name: string, o?: Record<string, unknown>) => curves.map((c) => replayCurve(c, presetConfig(name, o)));
  const results = run(policy, overrides);
  const baselines: Record<string, Summary> = {};
  for (const b of BASELINES) if (b !== policy) baselines[b] = summarize(run(b), oracle);
  return { policy, summary: summarize(results, oracle), curves: results, baselines, perCurveBoundGpuSecondsSavedFraction: perCurveBoundSavedFraction(curves) };
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ")).join("\n");
}

export function formatEvaluation(e: Evaluation): string {
  const bound = e.perCurveBoundGpuSecondsSavedFraction;
  const oracle = e.summary.oracleGpuSecondsSavedFraction;
  const ofOracle = (v: number) => (oracle > 0 ? v / oracle : 0);
  const perCurve = table([
    ["curve", "epochs", "planned", "stop", "epochs saved", "GPU-s saved", "best-EMA loss"],
    ...e.curves.map((r) => [
      r.name.replace(/\.csv$/, ""),
      String(r.epochs),
      String(r.maxEpochs),
      r.stopEpoch === undefined ? "-" : String(r.stopEpoch),
      pct(r.epochsSaved / r.epochs),
      pct(r.gpuSeconds > 0 ? r.gpuSecondsSaved / r.gpuSeconds : 0),
      r.bestEmaLoss.toFixed(4),
    ]),
  ]);
  const summaries: [string, Summary][] = [[e.policy, e.summary], ...Object.entries(e.baselines)];
  const side = table([
    ["policy", "epochs saved", "GPU-s saved", "of oracle", "mean loss", "max loss", "within budget"],
    ...summaries.map(([name, s]) => [
      name,
      pct(s.epochsSavedFraction),
      pct(s.gpuSecondsSavedFraction),
      pct(s.ofOracle),
      s.meanBestEmaLoss.toFixed(4),
      s.maxBestEmaLoss.toFixed(4),
      s.withinBudget ? "yes" : "no",
    ]),
    ["oracle", "", pct(e.summary.oracleGpuSecondsSavedFraction), "100.0%", "<= 0.0020", "<= 0.0100", "yes"],
    ["per-curve bound", "", pct(bound), pct(ofOracle(bound)), "<= 0.0020", "<= 0.0020", "yes"],
  ]);
  const note =
    "oracle: knows every curve's future and spends the mean loss budget where it saves the most.\n" +
    "per-curve bound: knows every curve's future and stops each one as soon as it gains at most 0.002 more;\n" +
    "no rule that keeps the mean budget on every single curve (a set of one) can save more.";
  return `${perCurve}\n\n${e.summary.curves} curves; loss budget: mean best-EMA loss <= 0.002, none above 0.010\n\n${side}\n\n${note}\n`;
}
