import type { EpochMetrics } from "@nnunet-operator/api";

// The epoch history of one fold, as the policies see it: plain numbers in epoch order, with
// the running best EMA kept alongside so that "best so far" is O(1) for every policy.

export interface EpochPoint {
  readonly epoch: number;
  readonly trainLoss?: number | undefined;
  readonly valLoss?: number | undefined;
  readonly pseudoDiceMean?: number | undefined;
  readonly emaPseudoDice?: number | undefined;
  readonly epochTimeSeconds?: number | undefined;
  readonly learningRate?: number | undefined;
  /** When the reporter saw the epoch (ms since the epoch), for the last-epoch gauge. */
  readonly observedAtMs?: number | undefined;
}

export function pointFromMetrics(m: EpochMetrics): EpochPoint {
  return {
    epoch: m.epoch,
    trainLoss: m.trainLoss,
    valLoss: m.valLoss,
    pseudoDiceMean: m.pseudoDiceMean,
    emaPseudoDice: m.emaPseudoDice,
    epochTimeSeconds: m.epochTimeSeconds,
    learningRate: m.learningRate,
    observedAtMs: Date.parse(m.observedAt),
  };
}

/** Sums over a run of epochs for a straight-line fit of a signal against the epoch number. */
export interface LineSums {
  readonly n: number;
  readonly sx: number;
  readonly sy: number;
  readonly sxx: number;
  readonly sxy: number;
  readonly syy: number;
}

/** The signals the trend fit runs on: the raw mean pseudo Dice, or the negated validation loss. */
export type TrendSignal = "pseudoDice" | "negValLoss";

const SIGNALS: Record<TrendSignal, (p: EpochPoint) => number | undefined> = {
  pseudoDice: (p) => finite(p.pseudoDiceMean),
  negValLoss: (p) => {
    const v = finite(p.valLoss);
    return v === undefined ? undefined : -v;
  },
};

function finite(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

/** Prefix sums, one entry per point plus the empty prefix: a window's sums in O(1). */
class PrefixSums {
  // [n, sx, sy, sxx, sxy, syy] for points[0..i-1] at 6*i.
  #data = new Float64Array(6 * 64);
  #length = 1;

  push(x: number, y: number | undefined): void {
    if (6 * (this.#length + 1) > this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    const d = this.#data;
    const o = 6 * (this.#length - 1);
    const n = 6 * this.#length;
    const has = y !== undefined;
    d[n] = (d[o] ?? 0) + (has ? 1 : 0);
    d[n + 1] = (d[o + 1] ?? 0) + (has ? x : 0);
    d[n + 2] = (d[o + 2] ?? 0) + (has ? y : 0);
    d[n + 3] = (d[o + 3] ?? 0) + (has ? x * x : 0);
    d[n + 4] = (d[o + 4] ?? 0) + (has ? x * y : 0);
    d[n + 5] = (d[o + 5] ?? 0) + (has ? y * y : 0);
    this.#length += 1;
  }

  pop(): void {
    if (this.#length > 1) this.#length -= 1;
  }

  /** Sums over points[from..to] (inclusive). */
  between(from: number, to: number): LineSums {
    const d = this.#data;
    const a = 6 * from;
    const b = 6 * (to + 1);
    const at = (k: number) => (d[b + k] ?? 0) - (d[a + k] ?? 0);
    return { n: at(0), sx: at(1), sy: at(2), sxx: at(3), sxy: at(4), syy: at(5) };
  }
}

export class FoldHistory {
  readonly points: EpochPoint[] = [];
  readonly #sums: Record<TrendSignal, PrefixSums> = { pseudoDice: new PrefixSums(), negValLoss: new PrefixSums() };
  /** #bestIndex[i]: index of the best EMA among points[0..i] (the first of equals: nnU-Net saves checkpoint_best only on a strict improvement). */
  readonly #bestIndex: number[] = [];

  get length(): number {
    return this.points.length;
  }

  get last(): EpochPoint | undefined {
    return this.points.at(-1);
  }

  /** Appends an epoch; the caller keeps epochs increasing (see FoldState). */
  append(p: EpochPoint): void {
    const i = this.points.length;
    const prev = this.#bestIndex[i - 1];
    const prevBest = prev === undefined ? undefined : this.points[prev]?.emaPseudoDice;
    const better = p.emaPseudoDice !== undefined && (prevBest === undefined || p.emaPseudoDice > prevBest);
    this.points.push(p);
    this.#bestIndex.push(better || prev === undefined ? i : prev);
    for (const [signal, sums] of Object.entries(this.#sums) as [TrendSignal, PrefixSums][])
      sums.push(p.epoch, SIGNALS[signal](p));
  }

  /**
   * Sums of (epoch, signal) over the epochs in (epoch of points[index] - window, epoch of
   * points[index]], for a straight-line fit: O(log n) whatever the window.
   */
  lineSums(signal: TrendSignal, index: number, window: number): LineSums {
    const last = this.points[index]?.epoch ?? 0;
    // The first point inside the window (epochs increase along points).
    let lo = 0;
    let hi = index;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.points[mid]?.epoch ?? 0) > last - window) hi = mid;
      else lo = mid + 1;
    }
    return this.#sums[signal].between(lo, index);
  }

  /** Drops every epoch at or after `epoch`: a resumed attempt re-runs them. */
  truncateFrom(epoch: number): void {
    while ((this.points.at(-1)?.epoch ?? -1) >= epoch) {
      this.points.pop();
      this.#bestIndex.pop();
      for (const sums of Object.values(this.#sums)) sums.pop();
    }
  }

  /** The epoch with the best EMA pseudo Dice so far (nnU-Net's checkpoint_best.pth). */
  best(): { epoch: number; ema: number } | undefined {
    const i = this.#bestIndex.at(-1);
    const p = i === undefined ? undefined : this.points[i];
    if (p?.emaPseudoDice === undefined) return undefined;
    return { epoch: p.epoch, ema: p.emaPseudoDice };
  }
}
