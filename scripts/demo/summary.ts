import type { TrainingRun, TrainingRunStatus } from "@nnunet-operator/api";
import { gpuFigures } from "@nnunet-operator/cli";

// The demo's closing summary, read from each run's status like every other view: the GPU
// figures are the operator's (status.totals, from the epoch times the trainer logged), and
// the line that says them is the plugin's own formatter (gpuFigures). The demo hands it the
// runs exactly as the live view last printed them, so the summary and the last live line of
// a run are one figure from one function over one object. On the devcluster the logged
// epoch times are the recorded ones of the replayed real runs (rescaled for the batch size),
// so these are GPU-hours on real L40S cards, not the simulation's compressed wall clock.

export interface FoldFigures {
  fold: string;
  phase: string;
  /** "@<epoch> <policy>" when the early-stop controller stopped the fold. */
  stopped: string | undefined;
  /** Last finished epoch, numbered from 0 as nnU-Net logs it. */
  epoch: number | undefined;
  maxEpochs: number | undefined;
  bestEma: number | undefined;
  validationDice: number | undefined;
  checkpoint: string | undefined;
  gpuSecondsUsed: number | undefined;
}

export interface RunFigures {
  name: string;
  phase: string;
  batchSize: number | undefined;
  plansBatchSize: number | undefined;
  folds: FoldFigures[];
  /** The run's status, whose totals and summary the GPU line prints. */
  status: TrainingRunStatus | undefined;
}

export function runFigures(run: TrainingRun): RunFigures {
  const folds = [...(run.status?.folds ?? [])].sort((a, b) => a.fold.localeCompare(b.fold));
  return {
    name: run.metadata.name ?? "?",
    phase: run.status?.phase ?? "Pending",
    batchSize: run.status?.calibration?.batchSize,
    plansBatchSize: run.status?.calibration?.plansBatchSize,
    folds: folds.map((f) => ({
      fold: f.fold,
      phase: f.phase,
      stopped: f.stopDecision ? `@${f.stopDecision.epoch} ${f.stopDecision.policy}` : undefined,
      epoch: f.epoch,
      maxEpochs: f.maxEpochs,
      bestEma: f.bestEma,
      validationDice: f.validation?.meanDice,
      checkpoint: f.validation?.checkpoint,
      gpuSecondsUsed: f.gpuSecondsUsed,
    })),
    status: run.status,
  };
}

const hours = (s: number | undefined): string => (s === undefined ? "-" : (s / 3600).toFixed(1));
const num = (v: number | undefined, digits = 4): string => (v === undefined ? "-" : v.toFixed(digits));

/**
 * The runs together, when every fold of every run finished training: sums of the runs'
 * totals, and the saving over the sum of their full schedules. Before that a total would
 * mix finished and unfinished folds, so there is none.
 */
function allRuns(runs: readonly RunFigures[]): string | undefined {
  const finished = runs.every((r) => {
    const [done, all] = (r.status?.summary?.folds ?? "").split("/");
    return done !== undefined && done === all && r.status?.totals?.gpuSecondsSaved !== undefined;
  });
  if (!finished || runs.length < 2) return undefined;
  const sum = (pick: (t: NonNullable<TrainingRunStatus["totals"]>) => number | undefined) =>
    runs.reduce((s, r) => s + (pick(r.status!.totals!) ?? 0), 0);
  const planned = sum((t) => t.gpuSecondsPlanned);
  if (planned <= 0) return undefined;
  const saved = sum((t) => t.gpuSecondsSaved);
  return `All runs: GPU-hours ${hours(sum((t) => t.gpuSecondsUsed))} used of ${hours(planned)} for the full schedules, saved ${hours(saved)} (${((100 * saved) / planned).toFixed(1)}%)`;
}

export function formatSummary(runs: readonly RunFigures[], elapsedSeconds: number): string {
  const lines = [`Summary (${Math.round(elapsedSeconds)} s wall clock)`];
  for (const r of runs) {
    lines.push("", `${r.name}: ${r.phase}, batch size ${r.batchSize ?? "-"} (plans: ${r.plansBatchSize ?? "-"})`);
    lines.push("  fold  epoch      stopped        best EMA  val Dice  checkpoint  GPU-h");
    for (const f of r.folds) {
      const epoch = `${f.epoch ?? "-"}/${f.maxEpochs ?? "?"}`;
      lines.push(
        `  ${f.fold.padEnd(4)}  ${epoch.padEnd(9)}  ${(f.stopped ?? "no").padEnd(13)}  ${num(f.bestEma).padStart(8)}  ${num(f.validationDice).padStart(8)}  ${(f.checkpoint ?? "-").padEnd(10)}  ${hours(f.gpuSecondsUsed).padStart(5)}`,
      );
    }
    const gpu = gpuFigures(r.status);
    if (gpu) lines.push(`  ${gpu}`);
  }
  const all = allRuns(runs);
  if (all) lines.push("", all);
  lines.push(
    "(GPU-hours of L40S training: the epoch times the replayed runs recorded, as the operator counts them in status.totals; the same figures as kubectl get tr and kubectl nnunet status.)",
  );
  return `${lines.join("\n")}\n`;
}
