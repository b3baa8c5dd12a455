import type { FoldPhase, RunPhase, TrainingRunStatus } from "@nnunet-operator/api";

// Small pure formatting helpers shared by the live view and the status tables.

const ANSI = /\x1b\[[0-9;]*m/g;
const RESET = "\x1b[0m";
const COLOURS = {
  green: "32",
  yellow: "33",
  red: "31",
  cyan: "36",
  blue: "34",
  dim: "2",
  bold: "1",
  magenta: "35",
} as const;
export type Colour = keyof typeof COLOURS;

export function paint(text: string, colour: Colour, tty: boolean): string {
  return tty ? `\x1b[${COLOURS[colour]}m${text}${RESET}` : text;
}

export function visibleLength(text: string): number {
  return text.replace(ANSI, "").length;
}

/** Cuts a line to `width` visible characters, keeping colour codes balanced. */
export function truncate(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = "";
  let seen = 0;
  let coloured = false;
  for (let i = 0; i < text.length && seen < width; ) {
    ANSI.lastIndex = i;
    const m = ANSI.exec(text);
    if (m && m.index === i) {
      out += m[0];
      coloured = m[0] !== RESET;
      i += m[0].length;
      continue;
    }
    out += text[i];
    seen++;
    i++;
  }
  // An ellipsis tells the reader something was cut; it replaces the last visible character.
  if (width > 0) out = out.replace(/.((?:\x1b\[[0-9;]*m)*)$/, "…$1");
  return coloured ? out + RESET : out;
}

export function padEnd(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - visibleLength(text)));
}

export function padStart(text: string, width: number): string {
  return " ".repeat(Math.max(0, width - visibleLength(text))) + text;
}

/** `[#####-----]` (plain) or a block bar (tty); `width` counts the brackets. */
export function progressBar(done: number, total: number, width: number, tty: boolean): string {
  const inner = Math.max(1, width - 2);
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(ratio * inner);
  const [full, empty] = tty ? ["█", "░"] : ["#", "-"];
  return `[${full.repeat(filled)}${empty.repeat(inner - filled)}]`;
}

export function dice(value: number | undefined): string {
  return value === undefined ? "-" : value.toFixed(4);
}

export function gpuHours(seconds: number | undefined): string {
  return seconds === undefined ? "-" : (seconds / 3600).toFixed(1);
}

/**
 * A run's GPU time as every view prints it (the live view, its plain lines, the plugin's
 * status, the demo's summary): the operator's figures from status.totals and summary, read
 * and never recounted, so that no two places can show different numbers for one run. While
 * folds still train, the saving covers the folds that finished.
 */
export function gpuFigures(status: TrainingRunStatus | undefined): string | undefined {
  const t = status?.totals;
  if (!t) return undefined;
  const used = `GPU-hours ${(status.summary?.gpuHours ?? t.gpuSecondsUsed / 3600).toFixed(1)} used`;
  const planned = t.gpuSecondsPlanned !== undefined ? ` of ${gpuHours(t.gpuSecondsPlanned)} for the full schedule` : "";
  const saved = status.summary?.saved;
  if (saved === undefined) return used + planned;
  const [done, all] = status.summary?.folds?.split("/") ?? [];
  const part =
    done !== undefined && all !== undefined && done !== all ? ` on the ${done} of ${all} folds that finished` : "";
  return `${used}${planned}, saved ${saved}${part}`;
}

/** kubectl's age format: 45s, 12m, 3h, 5d. */
export function age(from: string | undefined, now: Date): string {
  if (!from) return "-";
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Time until a future instant, coarse as kubectl's age: "in 45s", "in 12m", "in 3h20m", "in 2d5h"; "now" once past. */
export function until(to: string | undefined, now: Date): string {
  if (!to) return "-";
  const s = Math.floor((Date.parse(to) - now.getTime()) / 1000);
  if (!Number.isFinite(s)) return "-";
  if (s <= 0) return "now";
  if (s < 120) return `in ${s}s`;
  if (s < 3600) return `in ${Math.floor(s / 60)}m`;
  if (s < 172800) return `in ${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `in ${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** The latest predicted finish of a run's training folds, or undefined when none has one. */
export function runPredictedFinish(
  folds: ReadonlyArray<{ predictedFinishAt?: string | undefined }> | undefined,
): string | undefined {
  const all = (folds ?? []).map((f) => f.predictedFinishAt).filter((t): t is string => t !== undefined);
  return all.length === 0 ? undefined : all.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
}

const PHASE_COLOURS: Partial<Record<FoldPhase | RunPhase, Colour>> = {
  Queued: "yellow",
  Pending: "dim",
  Calibrating: "cyan",
  Training: "blue",
  Restarting: "yellow",
  Converged: "green",
  Completed: "green",
  Validating: "cyan",
  Validated: "green",
  Succeeded: "green",
  Failed: "red",
  Suspended: "magenta",
};

export function phase(value: string | undefined, tty: boolean): string {
  const text = value ?? "Unknown";
  const colour = PHASE_COLOURS[text as FoldPhase];
  return colour ? paint(text, colour, tty) : text;
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ""))));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : padEnd(c, widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
