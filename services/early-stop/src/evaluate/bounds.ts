// Finite-sample upper confidence bounds for the calibration (calibrate.ts), as in
// Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021) and risk-controlling
// prediction sets (Bates, Angelopoulos, Lei, Malik, Jordan 2021): valid for any distribution
// of losses, given exchangeable curves.

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
 * The Waudby-Smith-Ramdas betting bound (Bates et al., Proposition 6): an upper (1 - delta)
 * bound of the mean of losses in [0, 1], far tighter than Hoeffding-Bentkus when the losses
 * vary little, as best-EMA losses do (most within a few thousandths). The losses are taken in
 * the order given (any order fixed before seeing them keeps it valid). For a candidate mean r
 * the capital K_i(r) = prod_j (1 - nu_j (L_j - r)) bets against "the mean is at least r";
 * the bound is the smallest r at which the capital ever exceeds 1/delta.
 */
export function waudbySmithRamdasUpper(losses: readonly number[], delta: number): number {
  const n = losses.length;
  if (n === 0) return 1;
  // The predictable bets nu_j, from the losses before j only.
  const nu: number[] = [];
  let sum = 0;
  let sumSq = 0;
  let varPrev = 0.25;
  for (let i = 0; i < n; i++) {
    nu.push(Math.min(1, Math.sqrt((2 * Math.log(1 / delta)) / (n * varPrev))));
    const l = losses[i] ?? 0;
    sum += l;
    const mu = (0.5 + sum) / (i + 2);
    sumSq += (l - mu) ** 2;
    varPrev = (0.25 + sumSq) / (i + 2);
  }
  const rejects = (r: number): boolean => {
    let logK = 0;
    for (let i = 0; i < n; i++) {
      const f = 1 - (nu[i] ?? 0) * ((losses[i] ?? 0) - r);
      // A bet that lost everything: the capital stays at zero, never rejecting.
      if (f <= 0) return false;
      logK += Math.log(f);
      if (logK > Math.log(1 / delta)) return true;
    }
    return false;
  };
  // The capital grows with r: bisect for where it first exceeds 1/delta.
  let lo = 0;
  let hi = 1;
  if (rejects(0)) return 0;
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (rejects(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
