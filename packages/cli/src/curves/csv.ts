import type { EpochMetrics } from "@nnunet-operator/api";
import type { FoldCurve } from "./fold-curves.js";

// A fold's curve in the early-stop evaluator's CSV format (services/early-stop
// src/evaluate/curves.ts, the format of test/fixtures/nnunet-logs/curves), so that
// `npm run evaluate -w services/early-stop -- --curves DIR` runs on a cluster's own history.
// Numbers are written in JavaScript's shortest round-trip form, so the evaluator reads back
// exactly the values the reporter published; a missing value is an empty cell. Pure.

export const CURVE_CSV_HEADER =
  "epoch,train_loss,val_loss,pseudo_dice_mean,pseudo_dice_per_class,ema_pseudo_dice,epoch_time_s,lr";

const cell = (v: number | undefined): string => (v === undefined ? "" : String(v));

export function curveRow(m: EpochMetrics): string {
  return [
    m.epoch,
    cell(m.trainLoss),
    cell(m.valLoss),
    cell(m.pseudoDiceMean),
    m.pseudoDice.map(String).join(";"),
    cell(m.emaPseudoDice),
    cell(m.epochTimeSeconds),
    cell(m.learningRate),
  ].join(",");
}

export function curveCsv(curve: FoldCurve): string {
  return `${[CURVE_CSV_HEADER, ...curve.epochs.map(curveRow)].join("\n")}\n`;
}

/** `<namespace>__<run>__fold<f>.csv`: the evaluator's --by-source groups curves by the part before the first `__`, here the namespace. */
export function curveFileName(curve: Pick<FoldCurve, "namespace" | "run" | "fold">): string {
  return `${curve.namespace}__${curve.run}__fold${curve.fold}.csv`;
}
