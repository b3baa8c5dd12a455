// The nnU-Net log lines the parser understands, v2 (nnunetv2) and v1 (nnUNet 1.x), as one
// table. Each entry recognises a line by its keyword (`prefix`) and then demands the full
// shape (`pattern`): a line that starts like a metric line but does not match it is garbled,
// a line that starts like nothing here is someone else's output and is ignored.

/** A Python float as nnU-Net prints it, including nan and inf (a diverging run). */
const NUM = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|NaN|Infinity)`;

export type LineKind =
  | "epochHeader"
  | "learningRate"
  | "nextLearningRate"
  | "trainLoss"
  | "valLoss"
  | "pseudoDice"
  | "epochEnd"
  | "newBest"
  | "configuration"
  | "sessionStart";

interface LinePattern {
  readonly kind: LineKind;
  readonly prefix: RegExp;
  readonly pattern: RegExp;
}

export const LINE_PATTERNS: readonly LinePattern[] = [
  // v2: `Epoch 12`; v1: `epoch:  12`
  { kind: "epochHeader", prefix: /^Epoch(?! time)\b/, pattern: /^Epoch (\d+)$/ },
  { kind: "epochHeader", prefix: /^epoch:/, pattern: /^epoch:\s+(\d+)$/ },
  { kind: "learningRate", prefix: /^Current learning rate/, pattern: new RegExp(`^Current learning rate: (${NUM})$`) },
  // v1 prints the learning rate of the *next* epoch at the end of each epoch (and the first
  // one when the trainer starts), so it belongs to the epoch whose header follows.
  { kind: "nextLearningRate", prefix: /^lr:/, pattern: new RegExp(`^lr: (${NUM})$`) },
  { kind: "trainLoss", prefix: /^train[_ ]loss/, pattern: new RegExp(`^train(?:_loss| loss :) (${NUM})$`) },
  {
    kind: "valLoss",
    prefix: /^(?:val_loss|validation loss)/,
    pattern: new RegExp(`^(?:val_loss|validation loss:) (${NUM})$`),
  },
  {
    kind: "pseudoDice",
    prefix: /^(?:Pseudo dice|Average global foreground Dice)/,
    pattern: /^(?:Pseudo dice|Average global foreground Dice:) \[(.*)\]$/,
  },
  {
    kind: "epochEnd",
    prefix: /^(?:Epoch time|This epoch took)/,
    pattern: new RegExp(`^(?:Epoch time:|This epoch took) (${NUM}) s$`),
  },
  { kind: "newBest", prefix: /^Yayy! New best/, pattern: new RegExp(`^Yayy! New best EMA pseudo Dice: (${NUM})$`) },
  { kind: "configuration", prefix: /^Configuration name:/, pattern: /^Configuration name: (\S+)$/ },
  // Lines a trainer prints only while starting up: after one of them an epoch number may go
  // back (a resume from checkpoint_latest, or a second training in the same capture).
  {
    kind: "sessionStart",
    prefix:
      /^(?:Starting\.\.\.|Please cite the following paper|This is the configuration used by this training|Desired fold for training|loading checkpoint)/,
    pattern: /^/,
  },
];

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?): ?(.*)$/;

export interface SplitLine {
  /** ISO date-time without offset, from nnU-Net's `YYYY-MM-DD hh:mm:ss.ffffff: ` prefix. */
  readonly timestamp?: string;
  readonly body: string;
}

/** Splits off nnU-Net's timestamp prefix; the body is trimmed (nnU-Net pads lines with a space). */
export function splitLine(line: string): SplitLine {
  const m = TIMESTAMP.exec(line);
  if (m === null) return { body: line.trim() };
  return { timestamp: `${m[1]}T${m[2]}`, body: (m[3] ?? "").trim() };
}

export type Classified =
  | { readonly kind: LineKind; readonly value: string }
  | { readonly kind: "garbled" }
  | { readonly kind: "other" };

/** What a line body is: one of the known kinds with its captured value, garbled, or other. */
export function classify(body: string): Classified {
  for (const p of LINE_PATTERNS) {
    if (!p.prefix.test(body)) continue;
    const m = p.pattern.exec(body);
    if (m === null) return { kind: "garbled" };
    return { kind: p.kind, value: m[1] ?? "" };
  }
  return { kind: "other" };
}

/** Parses a Python float as printed (nan, inf included); undefined when it is not one. */
const NUM_ONLY = new RegExp(`^(?:${NUM})$`);

export function parseNumber(text: string): number | undefined {
  const t = text.trim();
  if (!NUM_ONLY.test(t)) return undefined;
  const lower = t.toLowerCase().replace(/^\+/, "");
  if (lower === "nan" || lower === "-nan") return Number.NaN;
  if (lower === "inf" || lower === "infinity") return Number.POSITIVE_INFINITY;
  if (lower === "-inf" || lower === "-infinity") return Number.NEGATIVE_INFINITY;
  return Number(t);
}

const NUMPY_SCALAR = /^np\.float\d*\((.*)\)$/;

/** Parses `0.1, 0.2` or numpy 2's `np.float32(0.1), np.float32(0.2)`; undefined when garbled. */
export function parseNumberList(text: string): number[] | undefined {
  if (text.trim() === "") return [];
  const values: number[] = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    const inner = NUMPY_SCALAR.exec(item)?.[1] ?? item;
    const value = parseNumber(inner);
    if (value === undefined) return undefined;
    values.push(value);
  }
  return values;
}
