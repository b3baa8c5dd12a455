import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// Learning curves the simulated nnU-Net replays: the CSVs of test/fixtures/nnunet-logs/curves
// (parsed from real logs; SOURCES.md there names each log's repository and commit), named
// `<source>__<dataset>__<configuration>__fold<N>.csv`. Fold N of a dataset and configuration
// replays that dataset's own fold-N curve, so the folds of a run differ as real folds do. An
// explicit mapping comes first (NNUNET_SIM_CURVE_MAP, a JSON file of
// `{ "<dataset>": "<csv>" }`, one curve for every fold, or `{ "<dataset>": { "<fold>": "<csv>" } }`).
// No curve: the fold fails saying so; nothing stands in for a dataset that has none.

export interface CurveRow {
  epoch: number;
  trainLoss: string;
  valLoss: string;
  dice: string[];
  ema: number;
  epochTime: number;
  lr: string;
}

export function parseCurve(text: string): CurveRow[] {
  const lines = text.trim().split(/\r?\n/).slice(1);
  return lines.map((line) => {
    const [epoch, trainLoss, valLoss, , perClass, ema, time, lr] = line.split(",");
    return {
      epoch: Number(epoch),
      trainLoss: trainLoss!,
      valLoss: valLoss!,
      dice: perClass!.split(";"),
      ema: Number(ema),
      epochTime: Number(time),
      lr: lr!,
    };
  });
}

export interface CurveQuery {
  /** Folder of recorded curves. */
  dir: string;
  dataset: string;
  configuration: string;
  fold: string;
  /** NNUNET_SIM_CURVE_MAP. */
  mapFile?: string | undefined;
}

export type CurveChoice = { ok: true; path: string } | { ok: false; reason: string };

type CurveMap = Record<string, string | Record<string, string>>;

export function findCurve(q: CurveQuery): CurveChoice {
  const resolve = (named: string): string => (named.includes("/") ? named : join(q.dir, named));
  if (q.mapFile) {
    const named = (JSON.parse(readFileSync(q.mapFile, "utf8")) as CurveMap)[q.dataset];
    if (typeof named === "string") return { ok: true, path: resolve(named) };
    if (named !== undefined) {
      const perFold = named[q.fold];
      if (perFold !== undefined) return { ok: true, path: resolve(perFold) };
      return {
        ok: false,
        reason: `${q.mapFile} maps ${q.dataset} to curves for folds ${Object.keys(named).join(", ")}, not for fold ${q.fold}`,
      };
    }
  }
  const files = existsSync(q.dir) ? readdirSync(q.dir).filter((f) => f.endsWith(".csv")) : [];
  const exact = files.filter((f) => f.endsWith(`__${q.dataset}__${q.configuration}__fold${q.fold}.csv`)).sort();
  if (exact[0] !== undefined) return { ok: true, path: join(q.dir, exact[0]) };
  // Say what is recorded for the dataset, so that a wrong configuration or fold is plain to see.
  const recorded = files
    .map((f) => f.split("__"))
    .filter((parts) => parts[1] === q.dataset)
    .map((parts) => `${parts[2]} ${parts[3]?.replace(/\.csv$/, "")}`);
  const have = recorded.length > 0 ? ` (recorded: ${[...new Set(recorded)].sort().join(", ")})` : "";
  return {
    ok: false,
    reason: `no recorded learning curve for ${q.dataset} ${q.configuration} fold ${q.fold} in ${q.dir}${have}; map one with NNUNET_SIM_CURVE_MAP`,
  };
}
