import { calibrate, resultUnder, tabulate, CALIBRATION_DEFAULTS, type CalibrationOptions } from "./calibrate.js";
import type { Curve } from "./curves.js";
import type { PolicyFamily } from "./families.js";
import { oracleSavedFraction } from "./oracle.js";
import { summarize, type CurveResult, type Summary } from "./replay.js";
import type { SourceOf } from "./sources.js";

// Nested leave-one-source-out: for each source (repository), every family's setting is
// calibrated on the curves of all OTHER sources only, then applied to the held-out source's
// curves. Pooled over the sources, every curve is judged by a setting chosen without it or
// any curve of its repository: the figure we quote. The baselines go through the same
// calibration, so the comparison is fair, and the oracle is computed on the same pooled set.

export interface LosoFamily {
  readonly family: string;
  readonly summary: Summary;
  readonly curves: readonly (CurveResult & { readonly source: string; readonly setting: string })[];
  /** The setting chosen for each held-out source ("never stops" when none passed). */
  readonly chosen: readonly { readonly source: string; readonly setting: string }[];
}

export interface LosoEvaluation {
  readonly curves: number;
  readonly sources: readonly { readonly source: string; readonly curves: number }[];
  readonly oracleGpuSecondsSavedFraction: number;
  readonly families: readonly LosoFamily[];
}

export function evaluateLoso(
  curves: readonly Curve[],
  sourceOf: SourceOf,
  families: readonly PolicyFamily[],
  o: CalibrationOptions = CALIBRATION_DEFAULTS,
): LosoEvaluation {
  const source = curves.map((c) => sourceOf(c.name));
  const sources = [...new Set(source)].sort();
  const oracle = oracleSavedFraction(curves);
  const out = families.map((family): LosoFamily => {
    const table = tabulate(family, curves);
    const pooled: (CurveResult & { source: string; setting: string })[] = [];
    const chosen: { source: string; setting: string }[] = [];
    for (const held of sources) {
      const cal = calibrate(table, (c) => source[c] !== held, o);
      const setting = cal.chosen?.setting.label ?? "never stops";
      chosen.push({ source: held, setting });
      source.forEach((s, c) => {
        if (s === held) pooled.push({ ...resultUnder(table, cal, c), source: held, setting });
      });
    }
    return { family: family.name, summary: summarize(pooled, oracle), curves: pooled, chosen };
  });
  return {
    curves: curves.length,
    sources: sources.map((s) => ({ source: s, curves: source.filter((x) => x === s).length })),
    oracleGpuSecondsSavedFraction: oracle,
    families: out,
  };
}
