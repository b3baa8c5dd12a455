import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { NnunetLogParser, type ParsedEpoch } from "./nnunet-log.js";

// Test support: reads test/fixtures/nnunet-logs (raw logs, curve CSVs and the SOURCES.md
// table that maps one to the other) and replays a run's log files through the parser.

export const FIXTURES = new URL("../../../../test/fixtures/nnunet-logs/", import.meta.url).pathname;

export interface FixtureRun {
  readonly csv: string;
  readonly configuration: string;
  readonly logFiles: readonly string[];
}

/** The SOURCES.md table: one row per curve CSV, log paths resolved under raw/<slug>/. */
export function fixtureRuns(root = FIXTURES): FixtureRun[] {
  const slugs = readdirSync(join(root, "raw"));
  const rows = readFileSync(join(root, "SOURCES.md"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("| ") && l.includes(".csv"));
  return rows.map((row) => {
    const cells = row.split("|").map((c) => c.trim());
    // cells: "", CSV, repository, commit, nnU-Net, dataset, config, trainer, fold, epochs, planned, status, log files, ""
    const csv = cells[1] ?? "";
    // Later rows name their folder ("raw/<slug>: path<br>path"); earlier ones are looked up.
    const named = /^raw\/([^:]+): (.*)$/.exec(cells[12] ?? "");
    const logFiles = (named?.[2] ?? cells[12] ?? "").split("<br>").map((path) => {
      const slug = named?.[1] ?? slugs.find((s) => existsSync(join(root, "raw", s, path)));
      if (slug === undefined) throw new Error(`log file of ${csv} not found: ${path}`);
      return join(root, "raw", slug, path);
    });
    return { csv, configuration: cells[6] ?? "", logFiles };
  });
}

export interface ParsedTraining {
  readonly configuration: string | undefined;
  readonly epochs: ParsedEpoch[];
}

/**
 * Feeds the files in order and applies rewinds as a consumer must: a re-emitted epoch
 * replaces it and everything after it. Returns one curve per training in the stream.
 */
export function replayLogFiles(files: readonly string[]): ParsedTraining[] {
  const parser = new NnunetLogParser();
  const trainings: { configuration: string | undefined; epochs: ParsedEpoch[] }[] = [];
  for (const file of files) {
    parser.startFile();
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const e = parser.push(line);
      if (e === undefined) continue;
      const t = (trainings[parser.training] ??= { configuration: parser.configuration, epochs: [] });
      while ((t.epochs.at(-1)?.epoch ?? -1) >= e.epoch) t.epochs.pop();
      t.epochs.push(e);
    }
  }
  return trainings;
}

export interface CurveRow {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly valLoss: number;
  readonly pseudoDiceMean: number;
  readonly pseudoDice: number[];
  readonly emaPseudoDice: number;
  readonly epochTimeSeconds: number;
  readonly learningRate: number;
}

/** Reads a curve CSV (epoch,train_loss,val_loss,pseudo_dice_mean,pseudo_dice_per_class,ema_pseudo_dice,epoch_time_s,lr). */
export function readCurveCsv(path: string): CurveRow[] {
  const [header, ...lines] = readFileSync(path, "utf8").trim().split("\n");
  if (
    header?.trim() !==
    "epoch,train_loss,val_loss,pseudo_dice_mean,pseudo_dice_per_class,ema_pseudo_dice,epoch_time_s,lr"
  ) {
    throw new Error(`${path}: unexpected header ${header}`);
  }
  return lines.map((line) => {
    const [epoch, tl, vl, mean, perClass, ema, time, lr] = line.split(",");
    return {
      epoch: Number(epoch),
      trainLoss: Number(tl),
      valLoss: Number(vl),
      pseudoDiceMean: Number(mean),
      pseudoDice: (perClass ?? "").split(";").map(Number),
      emaPseudoDice: Number(ema),
      epochTimeSeconds: Number(time),
      learningRate: Number(lr),
    };
  });
}
