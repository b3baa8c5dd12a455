// Finite-sample upper confidence bounds for the calibration (calibrate.ts), as in
// Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021) and risk-controlling
// prediction sets (Bates, Angelopoulos, Lei, Malik, Jordan 2021): valid for any distribution
// of losses, given curves drawn independently from it; the betting bounds also need the losses
// taken in an order independent of them (a random one), or averaged over such orders.

/** log of the binomial coefficient n choose k. */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** P(Bin(n, p) <= k). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  let sum = 0;
  for (let i = 0; i <= k; i++) sum += Math.exp(logChoose(n, i) + i * Math.log(p) + (n - i) * Math.log1p(-p));
  return Math.min(1, sum);
}

/** Bisection for the p in [0, 1] where a decreasing function crosses `target`. */
function solveDecreasing(f: (p: number) => number, target: number): number {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) > target) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * Clopper-Pearson: the upper (1 - delta) confidence bound of a binomial proportion from k
 * successes in n trials (the p at which seeing k or fewer has probability delta).
 */
export function clopperPearsonUpper(k: number, n: number, delta: number): number {
  if (n <= 0) return 1;
  if (k >= n) return 1;
  return solveDecreasing((p) => binomialCdf(k, n, p), delta);
}

/** Bernoulli relative entropy h1(a, b) = KL(Ber(a) || Ber(b)), the Hoeffding exponent. */
function h1(a: number, b: number): number {
  const term = (x: number, y: number) => (x === 0 ? 0 : x * Math.log(x / y));
  return term(a, b) + term(1 - a, 1 - b);
}

/**
 * The Hoeffding-Bentkus p-value of H0: mean risk > r, from losses in [0, 1] with empirical
 * mean `mean` over n (Bates et al., Proposition 5): the smaller of Hoeffding's
 * exp(-n h1(min(mean, r), r)) and Bentkus' e * P(Bin(n, r) <= ceil(n mean)).
 */
export function hoeffdingBentkusP(mean: number, n: number, r: number): number {
  if (n <= 0 || r >= 1) return 1;
  if (r <= 0) return mean > 0 ? 1 : 0;
  const hoeffding = Math.exp(-n * h1(Math.min(mean, r), r));
  const bentkus = Math.E * binomialCdf(Math.ceil(n * mean - 1e-12), n, r);
  return Math.min(1, hoeffding, bentkus);
}

/** The smallest r whose Hoeffding-Bentkus p-value is at most delta: an upper (1 - delta) bound of the mean. */
export function hoeffdingBentkusUpper(mean: number, n: number, delta: number): number {
  if (n <= 0) return 1;
  // The p-value falls as r grows: find where it crosses delta.
  return solveDecreasing((r) => hoeffdingBentkusP(mean, n, r), delta);
}

/**
 * The predictable bets nu_j of Waudby-Smith and Ramdas' hedged capital, each from the losses
 * before j only (their running mean and variance, started at 1/2 and 1/4), capped at 1 so that
 * the capital stays nonnegative for every candidate mean in [0, 1].
 */
function predictableBets(losses: readonly number[], delta: number): Float64Array {
  const n = losses.length;
  const nu = new Float64Array(n);
  let sum = 0;
  let sumSq = 0;
  let varPrev = 0.25;
  for (let i = 0; i < n; i++) {
    nu[i] = Math.min(1, Math.sqrt((2 * Math.log(1 / delta)) / (n * varPrev)));
    const l = losses[i] ?? 0;
    sum += l;
    const mu = (0.5 + sum) / (i + 2);
    sumSq += (l - mu) ** 2;
    varPrev = (0.25 + sumSq) / (i + 2);
  }
  return nu;
}

/** Bisection for the smallest r in [0, 1] that `rejects` (which must be monotone in r). */
function smallestRejected(rejects: (r: number) => boolean): number {
  if (rejects(0)) return 0;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (rejects(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The Waudby-Smith-Ramdas betting bound (Bates et al., Proposition 6): an upper (1 - delta)
 * bound of the mean of losses in [0, 1], far tighter than Hoeffding-Bentkus when the losses
 * vary little, as best-EMA losses do (most within a few thousandths). The losses are taken in
 * the order given, and the bound is valid only when that order is random (independent of the
 * losses): an order that groups alike curves (file names group each repository) lets the
 * capital run up on the first group and reject means that are true. The calibration passes it
 * a seeded random order (`inSeededOrder`). For a candidate mean r the capital
 * K_i(r) = prod_j (1 - nu_j (L_j - r)) bets against "the mean is at least r"; the bound is the
 * smallest r at which the capital ever exceeds 1/delta (Ville's inequality).
 */
export function waudbySmithRamdasUpper(losses: readonly number[], delta: number): number {
  const n = losses.length;
  if (n === 0) return 1;
  const nu = predictableBets(losses, delta);
  return smallestRejected((r) => {
    let logK = 0;
    for (let i = 0; i < n; i++) {
      const f = 1 - (nu[i] ?? 0) * ((losses[i] ?? 0) - r);
      // A bet that lost everything: the capital stays at zero, never rejecting.
      if (f <= 0) return false;
      logK += Math.log(f);
      if (logK > Math.log(1 / delta)) return true;
    }
    return false;
  });
}

/**
 * k uniformly random orders of 0..n-1 (Fisher-Yates), from a seeded linear congruential
 * generator (Numerical Recipes' constants): the same seed gives the same orders, so the
 * calibration and its tests are reproducible.
 */
export function seededOrders(n: number, k: number, seed: number): number[][] {
  let state = seed >>> 0;
  const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Array.from({ length: k }, () => {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [p[i], p[j]] = [p[j] ?? 0, p[i] ?? 0];
    }
    return p;
  });
}

/**
 * The losses sorted by value, then put in one seeded random order: what the order of the input
 * (file names) carries is discarded first, so the result depends only on the losses and the seed.
 */
export function inSeededOrder(losses: readonly number[], seed: number): number[] {
  const sorted = [...losses].sort((a, b) => a - b);
  return (seededOrders(sorted.length, 1, seed)[0] ?? []).map((i) => sorted[i] ?? 0);
}

/**
 * An upper (1 - delta) bound of the mean of losses in [0, 1] that does not depend on their
 * order: the Waudby-Smith-Ramdas capital at the END of each of `orders` seeded random orders of
 * the value-sorted losses, averaged. Under "the mean is at least r", with curves drawn
 * independently from one distribution, each final capital of a uniformly random order is a
 * nonnegative supermartingale's last value, an e-value (expectation at most 1), and so is an
 * average of e-values; Markov's inequality then rejects r when the average reaches 1/delta
 * with probability at most delta. The average estimates the mean over all n! orders, a
 * symmetric function of the losses and itself an e-value; the seed stands for the random draw
 * (fixed before any loss is seen, for reproducibility). The capital grows with r, so the bound
 * is the smallest r rejected. Losses and r in [0, 1] and bets at most 1 keep every factor
 * nonnegative (a zero factor: that order's capital is 0). Cost: orders x n per candidate r.
 */
export function averagedCapitalUpper(losses: readonly number[], delta: number, orders: number, seed: number): number {
  const n = losses.length;
  if (n === 0) return 1;
  const sorted = [...losses].sort((a, b) => a - b);
  const runs = seededOrders(n, orders, seed).map((p) => {
    const l = Float64Array.from(p, (i) => sorted[i] ?? 0);
    return { l, nu: predictableBets(Array.from(l), delta) };
  });
  return smallestRejected((r) => {
    let total = 0;
    for (const { l, nu } of runs) {
      let logK = 0;
      for (let i = 0; i < n; i++) logK += Math.log(1 - (nu[i] ?? 0) * ((l[i] ?? 0) - r));
      total += Math.exp(logK);
    }
    return total / orders >= 1 / delta;
  });
}
