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

export function evaluatePolicies(
  curves: readonly Curve[],
  policy: string,
  overrides?: Record<string, unknown>,
): Evaluation {
  const oracle = oracleSavedFraction(curves);
  const run = (name: string, o?: Record<string, unknown>) => curves.map((c) => replayCurve(c, presetConfig(name, o)));
  const results = run(policy, overrides);
  const baselines: Record<string, Summary> = {};
  for (const b of BASELINES) if (b !== policy) baselines[b] = summarize(run(b), oracle);
  return {
    policy,
    summary: summarize(results, oracle),
    curves: results,
    baselines,
    perCurveBoundGpuSecondsSavedFraction: perCurveBoundSavedFraction(curves),
  };
}

/** One set of curves judged on its own: the policy's summary against that set's oracle and per-curve bound. */
export interface SetEvaluation {
  readonly set: string;
  readonly summary: Summary;
  readonly perCurveBoundGpuSecondsSavedFraction: number;
}

/** The source of a curve: its file name up to the first "__" (the repository slug of SOURCES.md). */
export function sourceOf(name: string): string {
  return name.replace(/\.csv$/, "").split("__")[0] ?? name;
}

/**
 * The policy on every set the sources make: all curves, each source's curves alone (when it
 * has two or more) and all curves but each source's. Each curve is replayed once; a set's
 * budget and oracle are its own.
 */
export function evaluateBySource(
  curves: readonly Curve[],
  policy: string,
  overrides?: Record<string, unknown>,
): SetEvaluation[] {
  const config = presetConfig(policy, overrides);
  const results = new Map(curves.map((c) => [c, replayCurve(c, config)]));
  const sources = [...new Set(curves.map((c) => sourceOf(c.name)))].sort();
  const sets: [string, Curve[]][] = [["all", [...curves]]];
  for (const source of sources) {
    const only = curves.filter((c) => sourceOf(c.name) === source);
    if (only.length >= 2) sets.push([`only ${source}`, only]);
    if (sources.length > 1) sets.push([`all but ${source}`, curves.filter((c) => sourceOf(c.name) !== source)]);
  }
  return sets.map(([set, cs]) => ({
    set,
    summary: summarize(
      cs.map((c) => results.get(c)).filter((r) => r !== undefined),
      oracleSavedFraction(cs),
    ),
    perCurveBoundGpuSecondsSavedFraction: perCurveBoundSavedFraction(cs),
  }));
}

export function formatSets(policy: string, sets: readonly SetEvaluation[]): string {
  const ofOracle = (v: number, s: Summary) =>
    s.oracleGpuSecondsSavedFraction > 0 ? v / s.oracleGpuSecondsSavedFraction : 0;
  const rows = table([
    [
      "set",
      "curves",
      `${policy} GPU-s saved`,
      "of oracle",
      "mean loss",
      "max loss",
      "within budget",
      "oracle",
      "per-curve bound (of oracle)",
    ],
    ...sets.map(({ set, summary: s, perCurveBoundGpuSecondsSavedFraction: b }) => [
      set,
      String(s.curves),
      ...savingCells(s),
      pct(s.oracleGpuSecondsSavedFraction),
      `${pct(b)} (${pct(ofOracle(b, s))})`,
    ]),
  ]);
  return `${rows}\n\nEach set has its own loss budget (mean best-EMA loss <= 0.002, none above 0.010) and its own oracle.\n`;
}

/** GPU-s saved, of oracle, mean loss, max loss, within budget: the columns both tables share. */
function savingCells(s: Summary): string[] {
  return [
    pct(s.gpuSecondsSavedFraction),
    pct(s.ofOracle),
    s.meanBestEmaLoss.toFixed(4),
    s.maxBestEmaLoss.toFixed(4),
    s.withinBudget ? "yes" : "no",
  ];
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  "))
    .join("\n");
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
    ...summaries.map(([name, s]) => [name, pct(s.epochsSavedFraction), ...savingCells(s)]),
    ["oracle", "", pct(e.summary.oracleGpuSecondsSavedFraction), "100.0%", "<= 0.0020", "<= 0.0100", "yes"],
    ["per-curve bound", "", pct(bound), pct(ofOracle(bound)), "<= 0.0020", "<= 0.0020", "yes"],
  ]);
  const note =
    "oracle: knows every curve's future and spends the mean loss budget where it saves the most.\n" +
    "per-curve bound: knows every curve's future and stops each one as soon as it gains at most 0.002 more;\n" +
    "no rule that keeps the mean budget on every single curve (a set of one) can save more.";
  return `${perCurve}\n\n${e.summary.curves} curves; loss budget: mean best-EMA loss <= 0.002, none above 0.010\n\n${side}\n\n${note}\n`;
}
