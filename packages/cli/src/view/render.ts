import type { FoldStatus, TrainingRun } from "@nnunet-operator/api";
import {
  age,
  dice,
  gpuFigures,
  gpuHours,
  padEnd,
  padStart,
  paint,
  phase,
  progressBar,
  truncate,
  until,
  visibleLength,
} from "./format.js";

// The live view of `kubectl nnunet watch` and of the demo, as a pure function of the runs'
// statuses: per run its phase, the calibration result, per fold a progress bar with epoch
// and planned epochs, the EMA pseudo Dice and the phase, the GPU-hours against the full
// schedule; then the queue of waiting runs. Colour only on a TTY; every line fits `width`.

export interface RenderOptions {
  /** Terminal columns; lines are cut to this width. */
  width: number;
  /** Colours (ANSI) and block characters only when true. */
  tty: boolean;
  now: Date;
}

const FINISHED = new Set(["Succeeded", "Failed"]);

export function renderRunView(runs: readonly TrainingRun[], options: RenderOptions): string {
  const width = Math.max(20, Math.floor(options.width));
  const lines: string[] = [];
  const multiNamespace = new Set(runs.map((r) => r.metadata.namespace)).size > 1;
  const sorted = [...runs].sort((a, b) => runKey(a).localeCompare(runKey(b)));
  for (const run of sorted) {
    // A run that only waits has nothing to show but its place: the queue block has it.
    if (run.status?.queue?.position !== undefined && (run.status.folds?.length ?? 0) === 0) continue;
    if (lines.length > 0) lines.push("");
    lines.push(...renderRun(run, { ...options, width }, multiNamespace));
  }
  const queue = renderQueue(sorted, options, multiNamespace);
  if (queue.length > 0) lines.push(...(lines.length > 0 ? [""] : []), ...queue);
  if (lines.length === 0) lines.push("no TrainingRuns yet");
  return `${lines.map((l) => truncate(l, width)).join("\n")}\n`;
}

function runKey(run: TrainingRun): string {
  return `${run.metadata.namespace ?? ""}/${run.metadata.name ?? ""}`;
}

export function runLabel(run: TrainingRun, withNamespace: boolean): string {
  const name = run.metadata.name ?? "?";
  return withNamespace ? `${run.metadata.namespace ?? "?"}/${name}` : name;
}

function renderRun(run: TrainingRun, o: RenderOptions, multiNamespace: boolean): string[] {
  const s = run.status;
  const folds = [...(s?.folds ?? [])].sort((a, b) => a.fold.localeCompare(b.fold));
  const header = [paint(runLabel(run, multiNamespace), "bold", o.tty), phase(s?.phase ?? "Pending", o.tty)];
  if (s?.summary?.epochs) header.push(`epochs ${s.summary.epochs}`);
  if (s?.queue?.position !== undefined) header.push(paint(`queued #${s.queue.position}`, "yellow", o.tty));
  const failed = s?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  if (failed) header.push(paint(`${failed.reason}: ${failed.message ?? ""}`.trim(), "red", o.tty));
  const lines = [header.join("  ")];
  const calibration = calibrationLine(run, o);
  if (calibration) lines.push(`  ${calibration}`);
  if (folds.length === 0 && s?.queue?.reason)
    lines.push(`  held: ${s.queue.reason}${s.queue.message ? ` - ${s.queue.message}` : ""}`);
  for (const fold of folds) lines.push(...foldLine(fold, o));
  const totals = gpuFigures(s);
  if (totals) lines.push(`  ${totals}`);
  if (FINISHED.has(s?.phase ?? "") && folds.length > 0) lines.push(...summaryLines(run, folds, o));
  return lines;
}

function calibrationLine(run: TrainingRun, o: RenderOptions): string | undefined {
  const c = run.status?.calibration;
  if (!c) return run.status?.phase === "Calibrating" ? "calibration  measuring on the GPU..." : undefined;
  if (c.batchSize === undefined)
    return `calibration  measuring on the GPU${c.attempts ? ` (attempt ${c.attempts})` : ""}...`;
  const source = [c.source ?? "?", ...(c.plansBatchSize !== undefined ? [`plans ${c.plansBatchSize}`] : [])].join(", ");
  const parts = [`calibration  batch ${paint(String(c.batchSize), "bold", o.tty)} (${source})`];
  if (c.samplesPerSecond !== undefined) parts.push(`${c.samplesPerSecond.toFixed(1)} samples/s`);
  if (c.gpuProduct) parts.push(c.gpuProduct);
  if (c.effectiveMaxEpochs !== undefined)
    parts.push(
      `${c.effectiveMaxEpochs} epochs planned${c.epochScale && c.epochScale !== 1 ? ` (/${trim(c.epochScale)})` : ""}`,
    );
  return parts.join(" · ");
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/** What happened to a fold besides its progress: the stop, the Dice, a failure. */
export function foldNote(fold: FoldStatus): string {
  const notes: string[] = [];
  if (fold.audit)
    notes.push(
      `audit: would stop @${fold.audit.stopEpoch}${fold.audit.bestEmaLost !== undefined ? `, cost ${dice(fold.audit.bestEmaLost)}` : ""}`,
    );
  else if (fold.stopDecision) notes.push(`stopped @${fold.stopDecision.epoch} ${fold.stopDecision.policy}`);
  if (fold.validation) notes.push(`Dice ${dice(fold.validation.meanDice)}`);
  if (fold.attempt > 0 && (fold.phase === "Training" || fold.phase === "Restarting"))
    notes.push(`attempt ${fold.attempt}`);
  if ((fold.phase === "Failed" || fold.phase === "Restarting") && (fold.reason || fold.message)) {
    notes.push([fold.reason, fold.message?.split("\n").find((l) => l.trim())].filter(Boolean).join(": "));
  }
  return notes.join(" · ");
}

function foldLine(fold: FoldStatus, o: RenderOptions): string[] {
  const done = fold.epoch ?? 0;
  const total = fold.maxEpochs;
  const epochs = padStart(`${fold.epoch ?? "-"}/${total ?? "?"}`, 8);
  // The other columns take 67 characters; the bar gets the rest, between 10 and 32, and
  // below that a percentage stands in for it. The best column goes first on narrower screens.
  const barWidth = Math.min(32, o.width - 67);
  const progress =
    barWidth >= 10
      ? progressBar(done, total ?? 0, barWidth, o.tty)
      : padStart(total ? `${Math.floor((100 * done) / total)}%` : "-", 4);
  const best = fold.bestEma !== undefined ? `${dice(fold.bestEma)}@${fold.bestEpoch ?? "?"}` : "-";
  const cells = [`  fold ${padEnd(fold.fold, 3)}`, progress, epochs, padEnd(`ema ${dice(fold.latestEma)}`, 10)];
  if (o.width >= 60) cells.push(padEnd(`best ${best}`, 16));
  cells.push(padEnd(phase(fold.phase, o.tty), 10));
  const row = cells.join("  ").trimEnd();
  // The predicted end changes every epoch, so it stays out of foldNote (the plain view's signature).
  const ends =
    fold.phase === "Training" && fold.predictedFinishAt !== undefined
      ? `ends ${until(fold.predictedFinishAt, o.now)}`
      : "";
  const note = [foldNote(fold), ends].filter(Boolean).join(" · ");
  if (!note) return [row];
  const text = fold.phase === "Failed" ? paint(note, "red", o.tty) : note;
  // A note that does not fit beside the row goes under it rather than being cut.
  return visibleLength(row) + 2 + visibleLength(note) <= o.width ? [`${row}  ${text}`] : [row, `             ${text}`];
}

function summaryLines(run: TrainingRun, folds: readonly FoldStatus[], o: RenderOptions): string[] {
  const lines = [`  ${paint("summary", "bold", o.tty)}`];
  for (const f of folds) {
    const best = f.bestEma !== undefined ? `best EMA ${dice(f.bestEma)} @ epoch ${f.bestEpoch ?? "?"}` : "best EMA -";
    const val = f.validation
      ? `validation Dice ${dice(f.validation.meanDice)} (${f.validation.checkpoint})`
      : "validation Dice -";
    lines.push(`    fold ${padEnd(f.fold, 3)}  ${best}  ${val}  GPU-h ${gpuHours(f.gpuSecondsUsed)}`);
  }
  const validated = folds.filter((f) => f.validation);
  if (validated.length > 1) {
    const mean = validated.reduce((n, f) => n + (f.validation?.meanDice ?? 0), 0) / validated.length;
    lines.push(
      `    mean validation Dice ${dice(mean)} over ${validated.length} folds${run.status?.summary?.bestEma !== undefined ? ` · mean best EMA ${dice(run.status.summary.bestEma)}` : ""}`,
    );
  }
  return lines;
}

function renderQueue(runs: readonly TrainingRun[], o: RenderOptions, multiNamespace: boolean): string[] {
  const waiting = runs
    .filter((r) => r.status?.queue?.position !== undefined)
    .sort((a, b) => (a.status?.queue?.position ?? 0) - (b.status?.queue?.position ?? 0));
  if (waiting.length === 0) return [];
  const lines = [paint("queue", "bold", o.tty)];
  for (const run of waiting) {
    const q = run.status?.queue ?? {};
    const since = `${q.queuedAt ? ` for ${age(q.queuedAt, o.now)}` : ""}${q.estimatedStartAt ? `, starts ${until(q.estimatedStartAt, o.now)}` : ""}`;
    const why = q.reason ? `${q.reason}${q.message ? ` - ${q.message}` : ""}` : "waiting";
    const head = `  #${q.position}  ${runLabel(run, multiNamespace)}  queue ${run.spec.queue ?? "default"}, priority ${run.spec.priority ?? 0}${since}`;
    // The reason goes under the run when both do not fit on one line, rather than being cut.
    lines.push(
      ...(visibleLength(head) + 2 + why.length <= o.width ? [`${head}: ${why}`] : [`${head}:`, `       ${why}`]),
    );
  }
  return lines;
}
