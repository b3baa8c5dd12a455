import { makePolicyConfig, type PolicyConfig } from "./config.js";
import { FoldHistory, type EpochPoint } from "./history.js";

// Builders for the policy tests: histories from EMA series and configs from partial specs.

/** A history whose epochs carry the given EMA values (and the same raw mean, unless given). */
export function historyOf(
  emas: readonly number[],
  extra: (epoch: number) => Partial<EpochPoint> = () => ({}),
): FoldHistory {
  const h = new FoldHistory();
  emas.forEach((ema, epoch) =>
    h.append({
      epoch,
      emaPseudoDice: ema,
      pseudoDiceMean: ema,
      trainLoss: -0.5,
      valLoss: -0.5,
      epochTimeSeconds: 100,
      ...extra(epoch),
    }),
  );
  return h;
}

/** EMA as nnU-Net computes it from a series of mean pseudo Dice values. */
export function emaOf(means: readonly number[]): number[] {
  const out: number[] = [];
  means.forEach((m, i) => out.push(i === 0 ? m : 0.9 * (out[i - 1] ?? m) + 0.1 * m));
  return out;
}

/** A history from raw mean pseudo Dice values, with the EMA recomputed. */
export function historyOfMeans(means: readonly number[]): FoldHistory {
  const emas = emaOf(means);
  const h = new FoldHistory();
  means.forEach((m, epoch) =>
    h.append({
      epoch,
      pseudoDiceMean: m,
      emaPseudoDice: emas[epoch],
      trainLoss: -0.5,
      valLoss: -0.5,
      epochTimeSeconds: 100,
    }),
  );
  return h;
}

export function configOf(earlyStop: Record<string, unknown>, maxEpochs = 1000): PolicyConfig {
  return makePolicyConfig(earlyStop, maxEpochs);
}

/** Deterministic pseudo-random noise in [-1, 1]. */
export function noise(seed: number): (i: number) => number {
  return (i) => {
    const x = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
    return 2 * (x - Math.floor(x)) - 1;
  };
}
