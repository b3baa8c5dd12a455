import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { EpochPoint } from "../convergence/history.js";
import { inferMaxEpochs } from "../convergence/schedule.js";

// Reads learning curves in the CSV format of test/fixtures/nnunet-logs/curves:
// epoch,train_loss,val_loss,pseudo_dice_mean,pseudo_dice_per_class,ema_pseudo_dice,epoch_time_s,lr

export interface Curve {
  readonly name: string;
  readonly points: readonly EpochPoint[];
  /** Planned schedule length, inferred from the logged PolyLR learning rates. */
  readonly maxEpochs: number;
}

const HEADER = "epoch,train_loss,val_loss,pseudo_dice_mean,pseudo_dice_per_class,ema_pseudo_dice,epoch_time_s,lr";

export class CurveFormatError extends Error {
  override readonly name = "CurveFormatError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const num = (s: string | undefined): number | undefined => (s === undefined || s.trim() === "" ? undefined : Number(s));

export function parseCurveCsv(name: string, text: string): Curve {
  const [header, ...lines] = text.trim().split(/\r?\n/);
  if (header?.trim() !== HEADER) throw new CurveFormatError(`${name}: header is not ${HEADER}`);
  const points = lines.map((line, i): EpochPoint => {
    const [epoch, trainLoss, valLoss, mean, , ema, time, lr] = line.split(",");
    const e = Number(epoch);
    if (!Number.isInteger(e) || e < 0) throw new CurveFormatError(`${name}: line ${i + 2}: bad epoch ${epoch}`);
    return {
      epoch: e,
      trainLoss: num(trainLoss),
      valLoss: num(valLoss),
      pseudoDiceMean: num(mean),
      emaPseudoDice: num(ema),
      epochTimeSeconds: num(time),
      learningRate: num(lr),
    };
  });
  const maxEpochs = inferMaxEpochs(points.map((p) => p.learningRate)) ?? points.length;
  return { name, points, maxEpochs };
}

/** Every *.csv in a folder, sorted by name. */
export function readCurveDir(dir: string): Curve[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".csv"))
    .sort()
    .map((f) => parseCurveCsv(f, readFileSync(join(dir, f), "utf8")));
}
