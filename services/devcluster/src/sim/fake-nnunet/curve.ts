import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// Learning curves the simulated nnU-Net replays: the CSVs of test/fixtures/nnunet-logs/curves
// (parsed from real logs; SOURCES.md there names each log's repository and commit). A curve
// is chosen by dataset name: an explicit mapping first (NNUNET_SIM_CURVE_MAP, a JSON file
// `{ "<dataset>": "<csv file name or path>" }`), then a curve recorded for that dataset and
// configuration, then one for the dataset, then the built-in stand-ins below.

export interface CurveRow {
  epoch: number;
  trainLoss: string;
  valLoss: string;
  dice: string[];
  ema: number;
  epochTime: number;
  lr: string;
}

/**
 * Datasets of the demo fixtures that have no recorded curve of their own. TotalSegCT stands
 * in with a run that converged early (the calcium OCT 2d run: flat from epoch ~100 of 1000),
 * so that the demo shows a fold stopped early beside the liver run, still learning, which
 * Forecast lets run almost to the end.
 */
export const DEFAULT_CURVES: Record<string, string> = {
  Dataset501_TotalSegCT: "icekang__Dataset306_Sohee_Ajay_Calcium_OCT__2d__fold0.csv",
};

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

export function findCurve(
  dir: string,
  dataset: string,
  configuration: string,
  mapFile: string | undefined,
): string | undefined {
  if (mapFile) {
    const map = JSON.parse(readFileSync(mapFile, "utf8")) as Record<string, string>;
    const named = map[dataset];
    if (named) return named.includes("/") ? named : join(dir, named);
  }
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".csv"))
    .sort();
  const exact = files.find((f) => f.includes(`__${dataset}__${configuration}__`));
  const any = exact ?? files.find((f) => f.includes(`__${dataset}__`));
  if (any) return join(dir, any);
  const fallback = DEFAULT_CURVES[dataset];
  return fallback && existsSync(join(dir, fallback)) ? join(dir, fallback) : undefined;
}
