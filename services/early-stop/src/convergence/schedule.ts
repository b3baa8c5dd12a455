// nnU-Net's learning-rate schedule, PolyLR: lr(e) = lr0 * (1 - e/maxEpochs)^0.9, reaching
// zero after the last planned epoch. The policies only need the shape, lr(e)/lr0.

export const POLY_EXPONENT = 0.9;

/** lr(epoch)/lr0 under PolyLR; 0 from maxEpochs on. */
export function polyLrFactor(epoch: number, maxEpochs: number): number {
  if (epoch >= maxEpochs) return 0;
  return (1 - Math.max(0, epoch) / maxEpochs) ** POLY_EXPONENT;
}

/**
 * The planned number of epochs behind a logged learning-rate series, or undefined when the
 * series does not look like PolyLR. Used by the evaluator, whose curves do not say how long
 * their runs were planned; each estimate e / (1 - (lr_e/lr_0)^(1/0.9)) comes from one epoch
 * in the middle half, where the printed learning rate has enough digits.
 */
export function inferMaxEpochs(learningRates: readonly (number | undefined)[]): number | undefined {
  const lr0 = learningRates[0];
  if (lr0 === undefined || !(lr0 > 0)) return undefined;
  const n = learningRates.length;
  const estimates: number[] = [];
  for (let e = Math.floor(n / 4); e < Math.ceil((3 * n) / 4); e++) {
    const r = (learningRates[e] ?? Number.NaN) / lr0;
    if (r > 0.05 && r < 0.95) estimates.push(e / (1 - r ** (1 / POLY_EXPONENT)));
  }
  if (estimates.length === 0) return undefined;
  estimates.sort((a, b) => a - b);
  const median = estimates[Math.floor(estimates.length / 2)] ?? Number.NaN;
  return Number.isFinite(median) ? Math.max(n, Math.round(median)) : undefined;
}
