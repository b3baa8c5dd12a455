import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TrainingRun } from "@nnunet-operator/api";

// The demo's closing summary. GPU time is counted in the simulated nnU-Net's clock: the
// epoch times it logs are the recorded ones of real runs (scaled by the batch size's
// throughput), so "GPU-hours" are what these epochs take on real L40S cards. The full
// schedule is the operator's own estimate (status.totals.gpuSecondsPlanned: spec maxEpochs
// at the plans' batch size, per GPU). Wall-clock GPU-seconds of the simulation (status
// totals.gpuSecondsUsed) are shown beside it: they are compressed by the time scale.

export interface FoldFigures {
  fold: string;
  phase: string;
  /** "@<epoch> <policy>" when the early-stop controller stopped the fold. */
  stopped: string | undefined;
  epochs: number;
  maxEpochs: number | undefined;
  bestEma: number | undefined;
  validationDice: number | undefined;
  checkpoint: string | undefined;
  /** Training GPU-seconds in simulated time: the logged epoch times x GPUs. */
  gpuSeconds: number;
}

export interface RunFigures {
  name: string;
  phase: string;
  batchSize: number | undefined;
  plansBatchSize: number | undefined;
  folds: FoldFigures[];
  usedGpuSeconds: number;
  plannedGpuSeconds: number | undefined;
  wallGpuSeconds: number;
}

/** Sum of `Epoch time: t s` over every training log of the fold (all attempts). */
export function loggedEpochSeconds(foldDir: string): number {
  if (!existsSync(foldDir)) return 0;
  let total = 0;
  for (const f of readdirSync(foldDir).filter((n) => n.startsWith("training_log_"))) {
    for (const m of readFileSync(join(foldDir, f), "utf8").matchAll(/Epoch time: ([0-9.]+) s/g)) total += Number(m[1]);
  }
  return total;
}

/** The folder nnU-Net trained a fold in: `<results>/<Dataset>/<Trainer>__<plans>__<config>/fold_<f>`. */
export function foldDirOf(resultsDir: string, run: TrainingRun, fold: string): string {
  const trainer = run.status?.calibration?.trainer ?? run.spec.trainer;
  const plans = run.status?.calibration?.plans ?? run.spec.plans;
  return join(resultsDir, run.spec.dataset, `${trainer}__${plans}__${run.spec.configuration}`, `fold_${fold}`);
}

export function runFigures(run: TrainingRun, resultsDir: string): RunFigures {
  const folds = [...(run.status?.folds ?? [])].sort((a, b) => a.fold.localeCompare(b.fold));
  const figures = folds.map((f): FoldFigures => ({
    fold: f.fold,
    phase: f.phase,
    stopped: f.stopDecision ? `@${f.stopDecision.epoch} ${f.stopDecision.policy}` : undefined,
    epochs: f.epoch !== undefined ? f.epoch + 1 : 0,
    maxEpochs: f.maxEpochs,
    bestEma: f.bestEma,
    validationDice: f.validation?.meanDice,
    checkpoint: f.validation?.checkpoint,
    gpuSeconds: loggedEpochSeconds(foldDirOf(resultsDir, run, f.fold)) * run.spec.gpu.perFold,
  }));
  return {
    name: run.metadata.name ?? "?",
    phase: run.status?.phase ?? "Pending",
    batchSize: run.status?.calibration?.batchSize,
    plansBatchSize: run.status?.calibration?.plansBatchSize,
    folds: figures,
    usedGpuSeconds: figures.reduce((s, f) => s + f.gpuSeconds, 0),
    plannedGpuSeconds: run.status?.totals?.gpuSecondsPlanned,
    wallGpuSeconds: run.status?.totals?.gpuSecondsUsed ?? 0,
  };
}

const hours = (s: number): string => (s / 3600).toFixed(1);
const num = (v: number | undefined, digits = 4): string => (v === undefined ? "-" : v.toFixed(digits));

export function formatSummary(runs: readonly RunFigures[], elapsedSeconds: number): string {
  const lines = [`Summary (${Math.round(elapsedSeconds)} s wall clock)`];
  let used = 0;
  let planned = 0;
  for (const r of runs) {
    lines.push("", `${r.name}: ${r.phase}, batch size ${r.batchSize ?? "-"} (plans: ${r.plansBatchSize ?? "-"})`);
    lines.push("  fold  epochs     stopped        best EMA  val Dice  checkpoint  GPU-h");
    for (const f of r.folds) {
      const epochs = `${f.epochs}/${f.maxEpochs ?? "?"}`;
      lines.push(`  ${f.fold.padEnd(4)}  ${epochs.padEnd(9)}  ${(f.stopped ?? "no").padEnd(13)}  ${num(f.bestEma).padStart(8)}  ${num(f.validationDice).padStart(8)}  ${(f.checkpoint ?? "-").padEnd(10)}  ${hours(f.gpuSeconds).padStart(5)}`);
    }
    if (r.plannedGpuSeconds !== undefined && r.plannedGpuSeconds > 0) {
      const saved = 1 - r.usedGpuSeconds / r.plannedGpuSeconds;
      lines.push(`  GPU-hours: ${hours(r.usedGpuSeconds)} used of ${hours(r.plannedGpuSeconds)} for the full schedule: ${(saved * 100).toFixed(1)}% saved`);
      used += r.usedGpuSeconds;
      planned += r.plannedGpuSeconds;
    }
    lines.push(`  (simulation wall clock: ${Math.round(r.wallGpuSeconds)} GPU-seconds)`);
  }
  if (planned > 0) lines.push("", `All runs: ${hours(used)} GPU-hours used of ${hours(planned)} for the full schedules: ${((1 - used / planned) * 100).toFixed(1)}% saved (simulated L40S time, from the replayed logs' epoch times)`);
  lines.push("(The live view's GPU-hours count the pods' wall clock, which the simulation compresses by its time scale.)");
  return lines.join("\n") + "\n";
}
