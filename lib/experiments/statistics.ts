/**
 * The statistics an experiment's report rests on, each named so that it can be checked:
 *
 * - rates (errors, fallbacks, positive feedback): the two-proportion z-test with the pooled
 *   standard error for the p-value, and Newcombe's hybrid score interval (from two Wilson
 *   intervals) for the difference, which keeps its coverage with few events where Wald's does
 *   not; when requests come in clusters (a user's several requests are not independent), both
 *   on Kish's effective sample sizes, from the ratio estimator's cluster-robust variance;
 * - latency and tokens: a percentile bootstrap (seeded: the same data gives the same interval)
 *   that resamples clusters (users, sessions; single requests otherwise), for the difference in a
 *   quantile or in means and for the relative difference, with its two-sided p-value from the
 *   same resamples;
 * - the arms' sizes against the split: a chi-square goodness-of-fit test (sample ratio mismatch);
 * - several metrics at once: Holm's step-down correction, so the family-wise error rate across a
 *   report stays at alpha;
 * - no verdict below a minimum sample size per arm.
 *
 * Pure functions, no dependency: the normal distribution by rational approximations (erfc to
 * about 1e-7 relative error; its inverse by Acklam's algorithm and one Newton step on that erfc,
 * so about 1e-7 as well: within 1e-5 of SciPy's quantiles, tested).
 */

/** The standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** erfc(x), from the Chebyshev fit in Numerical Recipes (fractional error below 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** The standard normal quantile (Acklam's rational approximation, one Newton step on normalCdf). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError('normalQuantile expects 0 < p < 1');
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  const poly = (k: number[], v: number) => k.reduce((acc, coefficient) => acc * v + coefficient, 0);
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = poly(c, q) / (poly(d, q) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = (poly(a, r) * q) / (poly(b, r) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -poly(c, q) / (poly(d, q) * q + 1);
  }
  // One Newton step on the CDF sharpens it to the CDF's own precision.
  const e = normalCdf(x) - p;
  return x - e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
}

export interface Comparison {
  /** Variant minus control. */
  readonly difference: number;
  readonly low: number;
  readonly high: number;
  /** Two-sided, before any correction for several metrics. */
  readonly pValue: number;
}

/** Wilson's score interval for x of n (n > 0). */
export function wilson(x: number, n: number, z: number): [number, number] {
  const p = x / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * Two proportions, control (x1 of n1) and variant (x2 of n2): the pooled z-test's p-value and
 * Newcombe's hybrid score interval for the difference (his method 10).
 */
export function compareProportions(x1: number, n1: number, x2: number, n2: number, alpha = 0.05): Comparison {
  if (n1 <= 0 || n2 <= 0) throw new RangeError('each arm needs at least one observation');
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const difference = p2 - p1;
  const pooled = (x1 + x2) / (n1 + n2);
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const pValue = pooledSe === 0 ? 1 : 2 * (1 - normalCdf(Math.abs(difference) / pooledSe));
  const z = normalQuantile(1 - alpha / 2);
  const [l1, u1] = wilson(x1, n1, z);
  const [l2, u2] = wilson(x2, n2, z);
  return {
    difference,
    low: difference - Math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
    high: difference + Math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2),
    pValue: Math.min(1, pValue),
  };
}

/** One cluster's events of its trials (a user's errors of their requests). */
export interface ClusterCount {
  readonly events: number;
  readonly trials: number;
}

/** The ratio estimator's rate and its cluster-robust variance, k/(k-1) Σ(y - p n)² / (Σn)². */
function clusteredRate(clusters: readonly ClusterCount[]): { rate: number; variance: number } {
  let events = 0;
  let trials = 0;
  for (const c of clusters) {
    events += c.events;
    trials += c.trials;
  }
  const rate = events / trials;
  const k = clusters.length;
  let sum = 0;
  for (const c of clusters) sum += (c.events - rate * c.trials) ** 2;
  return { rate, variance: k > 1 ? ((k / (k - 1)) * sum) / (trials * trials) : 0 };
}

/**
 * Two rates whose trials come in clusters (a user's several requests): the comparison of
 * compareProportions on Kish's effective sample sizes, each arm's counts divided by its design
 * effect (the ratio estimator's cluster-robust variance over the binomial one, at least 1). So
 * the interval stays Newcombe's, sound with few or no events, and widens as clusters correlate.
 */
export function compareClusteredProportions(
  control: readonly ClusterCount[],
  variant: readonly ClusterCount[],
  alpha = 0.05,
): Comparison {
  if (control.length === 0 || variant.length === 0)
    throw new RangeError('each arm needs at least one observation');
  const effective = (clusters: readonly ClusterCount[]) => {
    const trials = clusters.reduce((n, c) => n + c.trials, 0);
    const { rate, variance } = clusteredRate(clusters);
    const binomial = (rate * (1 - rate)) / trials;
    const deff = binomial > 0 ? Math.max(1, variance / binomial) : 1;
    return { x: (rate * trials) / deff, n: trials / deff };
  };
  const c = effective(control);
  const v = effective(variant);
  return compareProportions(c.x, c.n, v.x, v.n, alpha);
}

/** A seeded generator (mulberry32): the same seed, the same bootstrap. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The q-quantile (0..1) of sorted values, linearly interpolated (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  const low = sorted[below] as number;
  return low + ((sorted[above] as number) - low) * (position - below);
}

/** Moves the k-th smallest of values[0..n) to index k (Hoare's selection, median of three). */
function select(values: Float64Array, n: number, k: number): void {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const a = values[lo] as number;
    const b = values[mid] as number;
    const c = values[hi] as number;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((values[i] as number) < pivot) i += 1;
      while ((values[j] as number) > pivot) j -= 1;
      if (i <= j) {
        const t = values[i] as number;
        values[i] = values[j] as number;
        values[j] = t;
        i += 1;
        j -= 1;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** A statistic of the first n values of a scratch buffer, which it may reorder. */
export type Statistic = (values: Float64Array, n: number) => number;

/** The q-quantile as `quantile` computes it, by selection instead of a sort: linear time. */
export function quantileStatistic(q: number): Statistic {
  return (values, n) => {
    if (n === 0) return Number.NaN;
    const position = (n - 1) * q;
    const below = Math.floor(position);
    select(values, n, below);
    const low = values[below] as number;
    if (below + 1 >= n) return low;
    let next = Number.POSITIVE_INFINITY;
    for (let i = below + 1; i < n; i += 1) if ((values[i] as number) < next) next = values[i] as number;
    return low + (next - low) * (position - below);
  };
}

export const meanStatistic: Statistic = (values, n) => {
  let sum = 0;
  for (let i = 0; i < n; i += 1) sum += values[i] as number;
  return n === 0 ? Number.NaN : sum / n;
};

export interface BootstrapComparison extends Comparison {
  /** The relative difference, statistic(variant) / statistic(control) - 1, and its interval; null when control's is 0. */
  readonly relative: number | null;
  readonly relativeLow: number | null;
  readonly relativeHigh: number | null;
}

/** Every value of the arm's clusters, in one buffer. */
function flatten(clusters: readonly (readonly number[])[]): Float64Array {
  const out = new Float64Array(clusters.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of clusters) for (const v of c) out[at++] = v;
  return out;
}

/**
 * A percentile bootstrap of `statistic(variant) - statistic(control)`, each statistic sharing the
 * same resamples: each arm's clusters (a user's latencies, say; one value each when requests are
 * independent) drawn with replacement `rounds` times from a seeded generator. The p-value is the
 * share of resampled differences on either side of zero, doubled, counting the observed data as
 * one more resample so that it is never 0.
 */
export function bootstrapCompare(
  control: readonly (readonly number[])[],
  variant: readonly (readonly number[])[],
  statistics: readonly Statistic[],
  options: { rounds?: number; seed?: number; alpha?: number } = {},
): BootstrapComparison[] {
  const rounds = options.rounds ?? 2_000;
  const alpha = options.alpha ?? 0.05;
  const random = seeded(options.seed ?? 1);
  const flat = { control: flatten(control), variant: flatten(variant) };
  // Resamples of clusters vary in size: room for twice the arm, grown when a draw needs more.
  const scratch = {
    control: new Float64Array(flat.control.length * 2 + 16),
    variant: new Float64Array(flat.variant.length * 2 + 16),
  };
  const resample = (clusters: readonly (readonly number[])[], which: 'control' | 'variant'): number => {
    let n = 0;
    for (let i = 0; i < clusters.length; i += 1) {
      const cluster = clusters[Math.floor(random() * clusters.length)] as readonly number[];
      if (n + cluster.length > scratch[which].length) {
        const grown = new Float64Array((n + cluster.length) * 2);
        grown.set(scratch[which].subarray(0, n));
        scratch[which] = grown;
      }
      for (const v of cluster) scratch[which][n++] = v;
    }
    return n;
  };
  // On copies: a statistic may reorder its buffer.
  const observed = statistics.map((statistic) => ({
    c: statistic(flat.control.slice(), flat.control.length),
    v: statistic(flat.variant.slice(), flat.variant.length),
  }));
  const differences = statistics.map(() => new Float64Array(rounds));
  const ratios = statistics.map(() => new Float64Array(rounds));
  const ratioDefined = statistics.map(() => true);
  for (let r = 0; r < rounds; r += 1) {
    const nc = resample(control, 'control');
    const nv = resample(variant, 'variant');
    statistics.forEach((statistic, s) => {
      const c = statistic(scratch.control, nc);
      const v = statistic(scratch.variant, nv);
      (differences[s] as Float64Array)[r] = v - c;
      if (c === 0) ratioDefined[s] = false;
      else (ratios[s] as Float64Array)[r] = v / c - 1;
    });
  }
  const at = (sorted: Float64Array, q: number) => quantile(sorted as unknown as number[], q);
  return statistics.map((_, s) => {
    const d = (differences[s] as Float64Array).sort();
    let below = 0;
    let above = 0;
    for (const x of d) {
      if (x <= 0) below += 1;
      if (x >= 0) above += 1;
    }
    const { c, v } = observed[s] as { c: number; v: number };
    const relativeOk = ratioDefined[s] && c !== 0;
    const ratio = relativeOk ? (ratios[s] as Float64Array).sort() : undefined;
    return {
      difference: v - c,
      low: at(d, alpha / 2),
      high: at(d, 1 - alpha / 2),
      pValue: Math.min(1, (2 * (Math.min(below, above) + 1)) / (rounds + 1)),
      relative: relativeOk ? v / c - 1 : null,
      relativeLow: ratio ? at(ratio, alpha / 2) : null,
      relativeHigh: ratio ? at(ratio, 1 - alpha / 2) : null,
    };
  });
}

/**
 * Whether the arms' sizes fit the split: Pearson's chi-square goodness of fit of the observed
 * counts to the weights (2 to 4 arms; closed forms of the chi-square tail for 1 to 3 degrees of
 * freedom). A small p-value says assignment or telemetry is broken, not that an arm is better.
 */
export function sampleRatioPValue(observed: readonly number[], weights: readonly number[]): number {
  const total = observed.reduce((a, b) => a + b, 0);
  const weightSum = weights.reduce((a, b) => a + b, 0);
  if (total === 0 || weightSum === 0) return 1;
  let x = 0;
  let df = -1;
  observed.forEach((o, i) => {
    const expected = (total * (weights[i] as number)) / weightSum;
    if (expected > 0) {
      x += (o - expected) ** 2 / expected;
      df += 1;
    } else if (o > 0) x = Number.POSITIVE_INFINITY;
  });
  if (!Number.isFinite(x)) return 0;
  if (df < 1) return 1;
  const tail1 = 2 * (1 - normalCdf(Math.sqrt(x)));
  if (df === 1) return tail1;
  if (df === 2) return Math.exp(-x / 2);
  if (df === 3) return tail1 + Math.sqrt((2 * x) / Math.PI) * Math.exp(-x / 2);
  throw new RangeError('sampleRatioPValue handles 2 to 4 arms');
}

/** Holm's step-down adjusted p-values, in the order given (each at most 1, never below an earlier one's). */
export function holm(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(pValues.length);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

export type Verdict = 'better' | 'worse' | 'no difference yet';

/**
 * The verdict on one metric: none below `minSamples` per arm; else, when the (adjusted) p-value
 * is below alpha, better or worse by the sign of the difference and the metric's good direction.
 */
export function verdict(options: {
  readonly difference: number;
  readonly adjustedP: number;
  readonly samples: readonly [number, number];
  readonly minSamples: number;
  readonly alpha: number;
  /** `lower`: less is better (errors, latency); `higher`: more is better (positive feedback). */
  readonly better: 'lower' | 'higher';
}): Verdict {
  const [control, variant] = options.samples;
  if (control < options.minSamples || variant < options.minSamples) return 'no difference yet';
  if (!(options.adjustedP < options.alpha) || options.difference === 0) return 'no difference yet';
  const lower = options.difference < 0;
  return lower === (options.better === 'lower') ? 'better' : 'worse';
}
