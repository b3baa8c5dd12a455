import type { EpochMetrics } from "@nnunet-operator/api";
import { classify, parseNumber, parseNumberList, splitLine } from "./line-patterns.js";

// An incremental parser of nnU-Net training logs (v2 and v1), fed one complete line at a
// time. It never throws: a line that looks like a metric line but is not one is counted as
// garbled and skipped. An epoch is emitted when its end line arrives (`Epoch time:` in v2,
// `This epoch took` in v1), which is also the latest moment nnU-Net itself could know it.
//
// The EMA pseudo Dice is recomputed exactly as nnU-Net does (ema = 0.9*ema + 0.1*mean, the
// first epoch's EMA is its mean): the logged value is rounded and only printed on a new
// best. When an epoch number goes back after a restart (nnU-Net resumes from
// checkpoint_latest, written every 50 epochs) the history is rewound to that epoch, so the
// EMA continues from where the checkpoint left it, as in the trainer.

/** The metric part of an EpochMetrics message; the reporter adds the identity fields. */
export type ParsedEpoch = Pick<
  EpochMetrics,
  | "epoch"
  | "trainLoss"
  | "valLoss"
  | "pseudoDice"
  | "pseudoDiceMean"
  | "emaPseudoDice"
  | "newBest"
  | "epochTimeSeconds"
  | "learningRate"
  | "loggedAt"
>;

export interface ParserStats {
  lines: number;
  epochs: number;
  /** Lines shaped like a metric line that did not parse (truncated, corrupted). */
  garbled: number;
  /** Epochs begun but dropped: the trainer restarted before the epoch had its results. */
  abandoned: number;
  /** Times the epoch number went back after a restart. */
  rewinds: number;
}

export interface ParserOptions {
  /** UTC offset of the trainer's clock, appended to log timestamps ("Z" for UTC pods). */
  readonly utcOffset?: string;
}

interface OpenEpoch {
  epoch: number;
  learningRate?: number;
  trainLoss?: number;
  valLoss?: number;
  pseudoDice?: number[];
  lastTimestamp?: string;
}

interface HistoryEntry {
  readonly epoch: number;
  readonly ema: number | undefined;
  readonly bestEma: number | undefined;
}

export const EMA_MOMENTUM = 0.9;
/** Consecutive epoch headers that may be missing before a jump ahead counts as corrupt. */
const MAX_LOST_HEADERS = 10;

export class NnunetLogParser {
  readonly stats: ParserStats = { lines: 0, epochs: 0, garbled: 0, abandoned: 0, rewinds: 0 };
  /** Counts trainings that started over at epoch 0 in the same stream (a SLURM capture of two). */
  training = 0;
  /** Configuration the current training printed (`Configuration name:`, v2 only). */
  configuration: string | undefined;

  readonly #utcOffset: string;
  readonly #history: HistoryEntry[] = [];
  #open: OpenEpoch | undefined;
  #pendingLearningRate: number | undefined;
  #sessionStarted = true;
  /** Whether the last epoch header carried nnU-Net's timestamp; undefined before the first. */
  #headerStamped: boolean | undefined;

  constructor(options: ParserOptions = {}) {
    this.#utcOffset = options.utcOffset ?? "Z";
  }

  /** The last epoch emitted (after rewinds), if any. */
  get lastEpoch(): number | undefined {
    return this.#history.at(-1)?.epoch;
  }

  /** A new log file starts (nnU-Net opens one per start): an unfinished epoch is dropped. */
  startFile(): void {
    this.#abandonOpen();
    this.#sessionStarted = true;
    this.#pendingLearningRate = undefined;
  }

  /** Feeds one line without its newline; returns the epoch this line finished, if any. */
  push(line: string): ParsedEpoch | undefined {
    this.stats.lines += 1;
    // A SLURM capture keeps progress bars' carriage returns: show the line as a terminal would.
    const cr = line.lastIndexOf("\r", line.length - 2);
    const { timestamp, body } = splitLine(cr >= 0 ? line.slice(cr + 1) : line);
    const c = classify(body);
    if (this.#open !== undefined && timestamp !== undefined && c.kind !== "epochHeader")
      this.#open.lastTimestamp = timestamp;
    switch (c.kind) {
      case "other":
      case "newBest": // recomputed from the EMA, which also covers resumed runs
        return undefined;
      case "garbled":
        this.stats.garbled += 1;
        return undefined;
      case "sessionStart":
        this.#abandonOpen();
        this.#sessionStarted = true;
        return undefined;
      case "configuration":
        this.configuration = c.value;
        return undefined;
      case "nextLearningRate":
        this.#pendingLearningRate = this.#number(c.value);
        return undefined;
      case "epochHeader":
        return this.#header(Number(c.value), timestamp);
      case "epochEnd": {
        const open = this.#open;
        if (open === undefined) return undefined;
        const seconds = this.#number(c.value);
        return this.#finish(open, seconds, timestamp);
      }
      default:
        this.#field(c.kind, c.value);
        return undefined;
    }
  }

  #field(kind: "learningRate" | "trainLoss" | "valLoss" | "pseudoDice", value: string): void {
    const open = this.#open;
    if (open === undefined) return;
    if (kind === "pseudoDice") {
      const list = parseNumberList(value);
      // A Dice outside [0, 1] can only come from a corrupted line.
      if (list === undefined || list.some((d) => d < 0 || d > 1)) this.stats.garbled += 1;
      else open.pseudoDice = list;
      return;
    }
    const n = this.#number(value);
    if (n !== undefined) open[kind] = n;
  }

  #number(text: string): number | undefined {
    const n = parseNumber(text);
    if (n === undefined) this.stats.garbled += 1;
    return n;
  }

  #header(epoch: number, timestamp: string | undefined): ParsedEpoch | undefined {
    // An epoch whose end line was lost still counts once its results are in.
    const previous = this.#open;
    const emitted =
      previous?.pseudoDice !== undefined ? this.#finish(previous, undefined, previous.lastTimestamp) : undefined;
    if (previous !== undefined && emitted === undefined) this.stats.abandoned += 1;
    this.#open = undefined;

    const last = this.lastEpoch;
    // A capture with two writers (a DDP job's stdout with each rank's copy of the log, one
    // timestamped and one not, flushed in blocks) interleaves two copies of the same epochs.
    // A header in the other writer's style goes back to where that writer is: a rewind, as
    // after a resume, and the later copy of an epoch wins (nnU-Net's log file holds one).
    const stamped = timestamp !== undefined;
    const otherWriter = this.#headerStamped !== undefined && this.#headerStamped !== stamped;
    this.#headerStamped = stamped;
    if (!this.#sessionStarted && !otherWriter && last !== undefined) {
      // Within one trainer process epochs only count up, one at a time (a few lost headers
      // are tolerated). Anything else is a corrupt header: believing a jump back would throw
      // away good history, believing a jump ahead would reject every following epoch.
      const expected = (previous?.epoch ?? last) + 1;
      if (epoch < expected || epoch > expected + MAX_LOST_HEADERS) {
        this.stats.garbled += 1;
        return emitted;
      }
    }
    if (last !== undefined && epoch <= last) {
      while ((this.#history.at(-1)?.epoch ?? -1) >= epoch) this.#history.pop();
      this.stats.rewinds += 1;
      if (epoch === 0 && !otherWriter) this.training += 1;
    }
    const open: OpenEpoch = { epoch };
    if (this.#pendingLearningRate !== undefined) open.learningRate = this.#pendingLearningRate;
    if (timestamp !== undefined) open.lastTimestamp = timestamp;
    this.#open = open;
    this.#pendingLearningRate = undefined;
    this.#sessionStarted = false;
    return emitted;
  }

  #finish(open: OpenEpoch, seconds: number | undefined, timestamp: string | undefined): ParsedEpoch {
    this.#open = undefined;
    const prev = this.#history.at(-1);
    const dice = open.pseudoDice ?? [];
    const mean = nanMean(dice);
    // Without this epoch's Dice (a garbled line) the EMA is carried: nnU-Net did update it, so
    // ours lags by one term until the history rewinds; no better guess exists.
    const ema =
      mean === undefined
        ? prev?.ema
        : prev?.ema === undefined
          ? mean
          : EMA_MOMENTUM * prev.ema + (1 - EMA_MOMENTUM) * mean;
    const newBest = ema !== undefined && mean !== undefined && (prev?.bestEma === undefined || ema > prev.bestEma);
    this.#history.push({ epoch: open.epoch, ema, bestEma: newBest ? ema : prev?.bestEma });
    this.stats.epochs += 1;
    return {
      epoch: open.epoch,
      ...(open.trainLoss !== undefined && { trainLoss: open.trainLoss }),
      ...(open.valLoss !== undefined && { valLoss: open.valLoss }),
      pseudoDice: dice,
      ...(mean !== undefined && { pseudoDiceMean: mean }),
      ...(ema !== undefined && { emaPseudoDice: ema }),
      newBest,
      ...(seconds !== undefined && seconds >= 0 && { epochTimeSeconds: seconds }),
      ...(open.learningRate !== undefined && open.learningRate >= 0 && { learningRate: open.learningRate }),
      ...(timestamp !== undefined && { loggedAt: `${timestamp}${this.#utcOffset}` }),
    };
  }

  #abandonOpen(): void {
    if (this.#open !== undefined) this.stats.abandoned += 1;
    this.#open = undefined;
  }
}

/** Mean of the non-NaN values, as numpy's nanmean; undefined when there are none. */
function nanMean(values: readonly number[]): number | undefined {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    sum += v;
    n += 1;
  }
  return n === 0 ? undefined : sum / n;
}

/** Parses a whole text (lines of several files joined by startFile between them): a helper for tests and tools. */
export function parseLogText(text: string, parser = new NnunetLogParser()): ParsedEpoch[] {
  const out: ParsedEpoch[] = [];
  for (const line of text.split(/\r?\n/)) {
    const e = parser.push(line);
    if (e !== undefined) out.push(e);
  }
  return out;
}
