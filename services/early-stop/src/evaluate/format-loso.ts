import type { Calibration, CalibrationOptions } from "./calibrate.js";
import type { LosoEvaluation } from "./loso.js";

// Text forms of the leave-one-source-out evaluation and of a calibration.

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  "))
    .join("\n");
}

export function formatLoso(e: LosoEvaluation, o: CalibrationOptions): string {
  const oracle = e.oracleGpuSecondsSavedFraction;
  const pooled = table([
    ["policy (calibrated per held-out source)", "GPU-s saved", "of oracle", "mean loss", "max loss", "within budget"],
    ...e.families.map((f) => [
      f.family,
      pct(f.summary.gpuSecondsSavedFraction),
      pct(f.summary.ofOracle),
      f.summary.meanBestEmaLoss.toFixed(4),
      f.summary.maxBestEmaLoss.toFixed(4),
      f.summary.withinBudget ? "yes" : "no",
    ]),
    ["oracle (same pooled set)", pct(oracle), "100.0%", "<= 0.0020", "<= 0.0100", "yes"],
  ]);
  const chosen = table([
    ["held-out source", "curves", ...e.families.map((f) => f.family)],
    ...e.sources.map((s) => [
      s.source,
      String(s.curves),
      ...e.families.map((f) => f.chosen.find((c) => c.source === s.source)?.setting ?? ""),
    ]),
  ]);
  return (
    `Leave-one-source-out over ${e.curves} curves from ${e.sources.length} sources: each source's curves judged by the setting\n` +
    `calibrated on the other sources only (alpha ${o.alpha}, tolerance ${o.tolerance}, delta ${o.delta}, mean budget ${o.meanBudget}, clip ${o.clip}, mean bound ${o.meanBound}).\n\n` +
    `${pooled}\n\n${chosen}\n`
  );
}

export function formatCalibration(c: Calibration, curves: number, o: CalibrationOptions): string {
  const steps = table([
    [
      "setting",
      `curves losing > ${o.tolerance}`,
      `upper bound (<= ${o.alpha})`,
      "mean loss",
      `upper bound (<= ${o.meanBudget})`,
      "passed",
    ],
    ...c.steps.map((s) => [
      s.setting.label,
      `${s.exceeding}/${s.curves}`,
      s.exceedingUpper.toFixed(3),
      s.meanLoss.toFixed(4),
      s.meanLossUpper.toFixed(4),
      s.passed ? "yes" : "no",
    ]),
  ]);
  const chosen =
    c.chosen === undefined
      ? "chosen: none passed; the policy would never stop a fold"
      : `chosen: ${c.chosen.setting.label} (earlyStop ${JSON.stringify(c.chosen.setting.spec)})`;
  return `${c.family} on ${curves} curves, settings from conservative to aggressive, each bound at confidence ${1 - o.delta / 2} (both together ${1 - o.delta}; mean bound ${o.meanBound}, losses clipped to ${o.clip}):\n${steps}\n${chosen}\n`;
}
