import type { FoldAudit, StopDecision } from "@nnunet-operator/api";

// `kubectl nnunet explain RUN --fold N`: a fold's raw and EMA pseudo Dice per epoch, the
// best EMA so far, the stop (or would-be stop) epoch and the forecast it rested on, drawn
// in plain characters, then one sentence saying why it stopped. Pure: the numbers in, the
// picture out; explain-svg.ts draws the same model as SVG.

export interface ExplainPoint {
  readonly epoch: number;
  readonly pseudoDiceMean?: number | undefined;
  readonly emaPseudoDice?: number | undefined;
}

export interface ExplainInput {
  readonly run: string;
  readonly fold: string;
  readonly points: readonly ExplainPoint[];
  /** Planned epochs; the x axis spans the whole schedule. */
  readonly maxEpochs: number;
  readonly phase?: string | undefined;
  readonly decision?: StopDecision | undefined;
  readonly audit?: FoldAudit | undefined;
}

/** The series both drawings share: per epoch, the raw and EMA pseudo Dice and the best EMA so far. */
export interface ExplainModel {
  readonly epochs: readonly number[];
  readonly raw: readonly (number | undefined)[];
  readonly ema: readonly (number | undefined)[];
  readonly best: readonly (number | undefined)[];
  readonly yMin: number;
  readonly yMax: number;
  readonly maxEpochs: number;
  readonly stopEpoch: number | undefined;
  readonly audited: boolean;
}

export function explainModel(input: ExplainInput): ExplainModel {
  const epochs = input.points.map((p) => p.epoch);
  const raw = input.points.map((p) => finite(p.pseudoDiceMean));
  const ema = input.points.map((p) => finite(p.emaPseudoDice));
  let running: number | undefined;
  const best = ema.map((v) => (running = v === undefined ? running : running === undefined ? v : Math.max(running, v)));
  // The first tenth of the epochs climbs from near zero; the axis starts where the EMA has
  // got to by then, so that the end of the schedule, where stops happen, is readable.
  const settled = ema.slice(Math.floor(ema.length / 10)).filter((v): v is number => v !== undefined);
  const values = [...raw, ...ema].filter((v): v is number => v !== undefined);
  const lo = settled.length > 0 ? Math.min(...settled) : values.length > 0 ? Math.min(...values) : 0;
  const hi = values.length > 0 ? Math.max(...values) : 1;
  const pad = hi > lo ? 0 : 0.05;
  const lastEpoch = epochs[epochs.length - 1] ?? 0;
  return {
    epochs,
    raw,
    ema,
    best,
    yMin: lo - pad,
    yMax: hi + pad,
    maxEpochs: Math.max(input.maxEpochs, lastEpoch + 1, 1),
    stopEpoch: input.decision?.epoch,
    audited: input.decision?.mode === "Audit",
  };
}

function finite(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

export interface TextPictureOptions {
  /** Columns of the plot area (the axis labels take 8 more). */
  readonly width: number;
  readonly height: number;
}

const MARK = { raw: ".", ema: "*", best: "-", stop: "|" } as const;

/** The terminal picture and the sentences under it. */
export function renderExplainText(
  input: ExplainInput,
  options: TextPictureOptions = { width: 72, height: 16 },
): string {
  const m = explainModel(input);
  const width = Math.max(10, Math.floor(options.width));
  const height = Math.max(4, Math.floor(options.height));
  const grid = Array.from({ length: height }, () => Array<string>(width).fill(" "));
  const col = (epoch: number): number => Math.min(width - 1, Math.floor((epoch * width) / m.maxEpochs));
  const row = (v: number): number => height - 1 - Math.round(((v - m.yMin) / (m.yMax - m.yMin || 1)) * (height - 1));
  // Per column the last value of each series wins (the state at the column's end); raw
  // values are averaged, since one epoch's noise says little at this resolution.
  const rawSum = new Map<number, { sum: number; n: number }>();
  const lastOf = (series: readonly (number | undefined)[]) => {
    const out = new Map<number, number>();
    series.forEach((v, i) => v !== undefined && out.set(col(m.epochs[i]!), v));
    return out;
  };
  m.raw.forEach((v, i) => {
    if (v === undefined) return;
    const c = col(m.epochs[i]!);
    const s = rawSum.get(c) ?? { sum: 0, n: 0 };
    rawSum.set(c, { sum: s.sum + v, n: s.n + 1 });
  });
  if (m.stopEpoch !== undefined) for (const line of grid) line[col(m.stopEpoch)] = MARK.stop;
  // Values under the axis's start are left out rather than piled onto its bottom row.
  const put = (c: number, v: number, mark: string) => {
    if (v < m.yMin) return;
    const line = grid[row(v)];
    if (line) line[c] = mark;
  };
  for (const [c, s] of rawSum) put(c, s.sum / s.n, MARK.raw);
  for (const [c, v] of lastOf(m.best)) put(c, v, MARK.best);
  for (const [c, v] of lastOf(m.ema)) put(c, v, MARK.ema);

  const title = headline(input, m);
  const lines = [title, ""];
  grid.forEach((cells, r) => {
    const label = r === 0 ? m.yMax.toFixed(3) : r === height - 1 ? m.yMin.toFixed(3) : "";
    lines.push(`${label.padStart(6)} ${r === height - 1 ? "+" : "|"}${cells.join("").trimEnd()}`);
  });
  lines.push(`${" ".repeat(7)}+${"-".repeat(width)}`);
  const axis = Array<string>(width + 8).fill(" ");
  const label = (epoch: number) => {
    const text = String(epoch);
    const at = Math.min(width + 8 - text.length, 8 + col(epoch));
    for (let i = 0; i < text.length; i++) axis[at + i] = text[i]!;
  };
  label(0);
  label(m.maxEpochs - 1);
  if (
    m.stopEpoch !== undefined &&
    col(m.stopEpoch) > String(0).length + 1 &&
    col(m.stopEpoch) < width - String(m.maxEpochs - 1).length - 1
  )
    label(m.stopEpoch);
  lines.push(axis.join("").trimEnd(), `${" ".repeat(8)}epoch`);
  lines.push(
    "",
    `  ${MARK.raw} pseudo Dice (mean over classes)   ${MARK.ema} EMA pseudo Dice   ${MARK.best} best EMA so far${m.stopEpoch !== undefined ? `   ${MARK.stop} ${m.audited ? "would-be stop" : "stop"} @${m.stopEpoch}` : ""}`,
  );
  const forecast = forecastLine(input.decision);
  if (forecast) lines.push("", forecast);
  lines.push("", whySentence(input, m));
  return `${lines.join("\n")}\n`;
}

export function headline(input: ExplainInput, m: ExplainModel): string {
  const d = input.decision;
  const trained =
    m.epochs.length > 0
      ? `${(m.epochs[m.epochs.length - 1] ?? 0) + 1} of ${m.maxEpochs} epochs trained`
      : `no epoch of ${m.maxEpochs} trained yet`;
  if (!d) return `TrainingRun ${input.run} fold ${input.fold}: ${input.phase ?? "?"}, ${trained}, no stop decision`;
  return `TrainingRun ${input.run} fold ${input.fold}: ${m.audited ? "would have stopped" : "stopped"} at epoch ${d.epoch} of ${m.maxEpochs} by ${d.policy}${m.audited ? " (audit)" : ""}, ${trained}`;
}

export function forecastLine(d: StopDecision | undefined): string | undefined {
  const f = d?.forecast;
  if (!d || !f) return undefined;
  const pct = `${Math.round(f.confidence * 1000) / 10}%`;
  return `Forecast at epoch ${d.epoch}: the remaining ${f.epochsLeft} epochs were predicted to add ${signed(f.gain)} EMA pseudo Dice, at most ${signed(f.gainUpper)} (${pct} bound); maxGain ${f.maxGain}.`;
}

/** One sentence: why the fold stopped (or would have), or that it did not. */
export function whySentence(input: ExplainInput, m: ExplainModel): string {
  const d = input.decision;
  const who = `Fold ${input.fold}`;
  if (!d)
    return `${who} has not been stopped: ${m.epochs.length > 0 ? `its best EMA pseudo Dice so far is ${fmt(m.best[m.best.length - 1])}` : "no epoch has been reported yet"}.`;
  const verb = m.audited ? "would have stopped" : "stopped";
  const best =
    d.bestEma !== undefined ? `; its best EMA pseudo Dice was ${fmt(d.bestEma)} at epoch ${d.bestEpoch ?? "?"}` : "";
  const lost = m.audited ? input.audit?.bestEmaLost : undefined;
  const after =
    lost === undefined
      ? ""
      : lost > 0
        ? `, and training on to the end added ${fmt(lost)} to it`
        : ", and training on to the end never beat it";
  const f = d.forecast;
  if (d.policy === "Forecast" && f) {
    const pct = `${Math.round(f.confidence * 1000) / 10}%`;
    const because =
      f.gainUpper < 0
        ? `even the ${pct} bound of what the rest of the annealing could reach stayed ${fmt(-f.gainUpper)} below the best EMA pseudo Dice`
        : `the ${pct} bound of the gain the remaining ${f.epochsLeft} epochs were predicted to bring, ${fmt(f.gainUpper)}, was below maxGain ${f.maxGain}`;
    return `${who} ${verb} at epoch ${d.epoch} because ${because}${best}${after}.`;
  }
  return `${who} ${verb} at epoch ${d.epoch} by ${d.policy}: ${d.reason.replace(/\.$/, "")}${best}${after}.`;
}

const fmt = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(4));
const signed = (v: number): string => (v < 0 ? `-${(-v).toFixed(4)}` : v.toFixed(4));
