import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CurveRow } from "./curve.js";

// validation/summary.json as nnU-Net's compute_metrics_on_folder writes it: per-case metrics,
// the mean per label and the foreground mean. The Dice per class is the curve's pseudo Dice
// at the checkpoint's epoch (averaged over the five epochs up to it, since a checkpoint's
// weights are not one epoch's noise) less 2%, the usual gap between the pseudo Dice of
// random patches and the Dice of whole validation cases; cases vary around it deterministically.

interface Metrics {
  Dice: number;
  FN: number;
  FP: number;
  IoU: number;
  TN: number;
  TP: number;
  n_pred: number;
  n_ref: number;
}

/** Confusion counts consistent with a Dice: TP = Dice x reference voxels, FP from Dice = 2TP / (2TP + FP + FN). */
function metrics(dice: number, ref: number): Metrics {
  const tp = Math.max(0, Math.min(ref, Math.round(dice * ref)));
  const fn = ref - tp;
  const fp = dice > 0 ? Math.max(0, Math.round((2 * tp) / dice - 2 * tp - fn)) : 0;
  const denom = tp + fp + fn;
  return {
    Dice: dice,
    FN: fn,
    FP: fp,
    IoU: denom > 0 ? tp / denom : Number.NaN,
    TN: 10_000_000 - tp - fp - fn,
    TP: tp,
    n_pred: tp + fp,
    n_ref: ref,
  };
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function checkpointDice(curve: readonly CurveRow[], epoch: number): number[] {
  const window = curve.filter((r) => r.epoch <= epoch && r.epoch > epoch - 5);
  const rows = window.length > 0 ? window : curve.slice(-1);
  const classes = rows[0]!.dice.length;
  return Array.from({ length: classes }, (_, c) => Math.max(0, avg(rows.map((r) => Number(r.dice[c]))) - 0.02));
}

export function writeSummary(
  foldDir: string,
  dice: readonly number[],
  labels: readonly string[],
  cases: number,
): string {
  const perCase = Array.from({ length: cases }, (_, i) => {
    const m: Record<string, Metrics> = {};
    dice.forEach((d, c) => {
      const jitter = Math.sin(i * 12.9898 + c * 78.233) * 0.03;
      m[labels[c] ?? String(c + 1)] = metrics(
        Math.max(0, Math.min(1, d + jitter)),
        20_000 + ((i * 7919 + c * 104_729) % 50_000),
      );
    });
    return {
      metrics: m,
      prediction_file: join(foldDir, "validation", `case_${String(i).padStart(3, "0")}.nii.gz`),
      reference_file: `gt_segmentations/case_${String(i).padStart(3, "0")}.nii.gz`,
    };
  });
  const mean: Record<string, Metrics> = {};
  // A curve may log fewer classes than the dataset has labels (a stand-in curve of another
  // dataset): the summary covers the classes the curve has.
  for (const label of dice.map((_, c) => labels[c] ?? String(c + 1))) {
    const rows = perCase.map((p) => p.metrics[label]!);
    mean[label] = Object.fromEntries(
      (Object.keys(rows[0]!) as (keyof Metrics)[]).map((k) => [k, avg(rows.map((r) => r[k]))]),
    ) as unknown as Metrics;
  }
  const fg = Object.values(mean);
  const foreground_mean = Object.fromEntries(
    (Object.keys(fg[0]!) as (keyof Metrics)[]).map((k) => [k, avg(fg.map((r) => r[k]))]),
  );
  const dir = join(foldDir, "validation");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "summary.json");
  writeFileSync(path, JSON.stringify({ foreground_mean, mean, metric_per_case: perCase }, null, 4));
  return path;
}
