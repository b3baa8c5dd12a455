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
  /** When the reporter saw the epoch (ms since the epoch), for stall detection. */
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

export class FoldHistory {
  readonly points: EpochPoint[] = [];
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
  }

  /** Drops every epoch at or after `epoch`: a resumed attempt re-runs them. */
  truncateFrom(epoch: number): void {
    while ((this.points.at(-1)?.epoch ?? -1) >= epoch) {
      this.points.pop();
      this.#bestIndex.pop();
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
