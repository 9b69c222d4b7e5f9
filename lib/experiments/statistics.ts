/**
 * The statistics an experiment's report rests on, each named so that it can be checked:
 *
 * - rates (errors, fallbacks, positive feedback): the two-proportion z-test with the pooled
 *   standard error for the p-value, and a Wald interval (unpooled) for the difference;
 * - latency and tokens: a percentile bootstrap interval (seeded: the same data gives the same
 *   interval) for the difference in a quantile or in means, and its two-sided p-value from the
 *   same resamples (so the two never disagree);
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

/** Two proportions, control (x1 of n1) and variant (x2 of n2): pooled z-test, Wald interval. */
export function compareProportions(x1: number, n1: number, x2: number, n2: number, alpha = 0.05): Comparison {
  if (n1 <= 0 || n2 <= 0) throw new RangeError('each arm needs at least one observation');
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const difference = p2 - p1;
  const pooled = (x1 + x2) / (n1 + n2);
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const pValue = pooledSe === 0 ? 1 : 2 * (1 - normalCdf(Math.abs(difference) / pooledSe));
  const se = Math.sqrt((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2);
  const z = normalQuantile(1 - alpha / 2);
  return { difference, low: difference - z * se, high: difference + z * se, pValue: Math.min(1, pValue) };
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

/**
 * A percentile bootstrap interval for `statistic(variant) - statistic(control)`: both arms
 * resampled with replacement `rounds` times from a seeded generator.
 */
export function bootstrapDifference(
  control: readonly number[],
  variant: readonly number[],
  statistic: (sorted: readonly number[]) => number,
  options: { rounds?: number; seed?: number; alpha?: number } = {},
): Comparison {
  const rounds = options.rounds ?? 2_000;
  const alpha = options.alpha ?? 0.05;
  const random = seeded(options.seed ?? 1);
  const sortedCopy = (values: readonly number[]) => [...values].sort((a, b) => a - b);
  const resample = (values: readonly number[]) => {
    const out = new Array<number>(values.length);
    for (let i = 0; i < values.length; i += 1)
      out[i] = values[Math.floor(random() * values.length)] as number;
    return out.sort((a, b) => a - b);
  };
  const differences: number[] = [];
  for (let i = 0; i < rounds; i += 1)
    differences.push(statistic(resample(variant)) - statistic(resample(control)));
  differences.sort((a, b) => a - b);
  // The share of resampled differences on either side of zero, doubled (two-sided), counted with
  // the observed data as one more resample so that it is never 0: consistent with the interval.
  const atOrBelow = differences.filter((d) => d <= 0).length;
  const atOrAbove = differences.filter((d) => d >= 0).length;
  return {
    difference: statistic(sortedCopy(variant)) - statistic(sortedCopy(control)),
    low: quantile(differences, alpha / 2),
    high: quantile(differences, 1 - alpha / 2),
    pValue: Math.min(1, (2 * (Math.min(atOrBelow, atOrAbove) + 1)) / (rounds + 1)),
  };
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
