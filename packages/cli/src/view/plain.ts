import type { FoldStatus, TrainingRun } from "@nnunet-operator/api";
import { dice, gpuFigures } from "./format.js";
import { foldNote, runLabel } from "./render.js";

// The non-TTY form of the live view, for CI logs: no redraws, only a line when something
// changed. A run prints a line when its phase, queue place or calibration changes; a fold
// when its phase, attempt or outcome changes, or its epoch crosses another 5% of the
// planned schedule (a line per epoch would drown a log); a finished run prints its summary,
// again only when what it says changes. Pure: the caller keeps the returned state for the next call.

export type PlainState = ReadonlyMap<string, string>;

export const EMPTY_PLAIN_STATE: PlainState = new Map();

const PROGRESS_STEPS = 20;

export function plainUpdates(
  previous: PlainState,
  runs: readonly TrainingRun[],
): { lines: string[]; state: PlainState } {
  const state = new Map<string, string>();
  const lines: string[] = [];
  const multiNamespace = new Set(runs.map((r) => r.metadata.namespace)).size > 1;
  const emit = (key: string, signature: string, text: string | string[]): void => {
    state.set(key, signature);
    if (previous.get(key) !== signature) lines.push(...(Array.isArray(text) ? text : [text]));
  };
  const sorted = [...runs].sort((a, b) => runLabel(a, true).localeCompare(runLabel(b, true)));
  for (const run of sorted) {
    const label = runLabel(run, multiNamespace);
    const id = runLabel(run, true);
    const s = run.status;
    const failed = s?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
    const phaseText = `${s?.phase ?? "Pending"}${failed ? ` (${failed.reason}: ${failed.message ?? ""})` : ""}`;
    emit(`${id}#phase`, phaseText, `${label}: ${phaseText}`);
    const q = s?.queue;
    if (q?.position !== undefined) {
      const text = `queued #${q.position}${q.reason ? ` (${q.reason}${q.message ? `: ${q.message}` : ""})` : ""}`;
      emit(`${id}#queue`, text, `${label}: ${text}`);
    }
    const c = s?.calibration;
    if (c?.batchSize !== undefined) {
      const text = `calibration batch ${c.batchSize} (${c.source ?? "?"})${c.samplesPerSecond !== undefined ? `, ${c.samplesPerSecond.toFixed(1)} samples/s` : ""}${c.effectiveMaxEpochs !== undefined ? `, ${c.effectiveMaxEpochs} epochs planned` : ""}`;
      emit(`${id}#calibration`, text, `${label}: ${text}`);
    }
    for (const fold of s?.folds ?? []) {
      emit(`${id}#fold-${fold.fold}`, foldSignature(fold), `${label} fold ${fold.fold}: ${foldText(fold)}`);
    }
    if ((s?.phase === "Succeeded" || s?.phase === "Failed") && (s.folds?.length ?? 0) > 0) {
      // Keyed by what it says, not by the phase: a figure that moves after the run finished
      // (the last epochs' times arriving after the Job ended) prints again, so the last
      // summary line of a run is always its current figure.
      const lines = summary(label, run);
      emit(`${id}#summary`, `${s.phase}\n${lines.join("\n")}`, lines);
    }
  }
  return { lines, state };
}

function foldSignature(fold: FoldStatus): string {
  const step = fold.maxEpochs ? Math.floor(((fold.epoch ?? 0) * PROGRESS_STEPS) / fold.maxEpochs) : (fold.epoch ?? 0);
  return [fold.phase, fold.attempt, step, foldNote(fold)].join("|");
}

function foldText(fold: FoldStatus): string {
  const parts = [fold.phase, `epoch ${fold.epoch ?? "-"}/${fold.maxEpochs ?? "?"}`, `ema ${dice(fold.latestEma)}`];
  if (fold.bestEma !== undefined) parts.push(`best ${dice(fold.bestEma)}@${fold.bestEpoch ?? "?"}`);
  const note = foldNote(fold);
  if (note) parts.push(note);
  // At each 5% step the line says when the fold is now predicted to end (absolute: a log has no "now").
  if (fold.phase === "Training" && fold.predictedFinishAt !== undefined)
    parts.push(`predicted end ${fold.predictedFinishAt}`);
  return parts.join(", ");
}

function summary(label: string, run: TrainingRun): string[] {
  const gpu = gpuFigures(run.status);
  const lines: string[] = gpu ? [`${label} summary: ${gpu}`] : [];
  for (const f of run.status?.folds ?? []) {
    lines.push(
      `${label} summary fold ${f.fold}: best EMA ${dice(f.bestEma)} @ epoch ${f.bestEpoch ?? "-"}, validation Dice ${dice(f.validation?.meanDice)}`,
    );
  }
  return lines;
}
