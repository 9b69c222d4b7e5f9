/**
 * The report's statistics against known answers: the figures below were computed with SciPy 1.17
 * (`scipy.stats.norm`, `scipy.stats.chisquare`) and NumPy's `percentile`; Newcombe's and
 * Wilson's intervals from Newcombe's published examples, in the project's venv; Holm's adjustment by its definition.
 */
import { describe, expect, it } from 'vitest';
import {
  bootstrapCompare,
  compareClusteredProportions,
  compareProportions,
  holm,
  meanStatistic,
  normalCdf,
  normalQuantile,
  quantile,
  quantileStatistic,
  sampleRatioPValue,
  seeded,
  verdict,
  wilson,
} from '../../lib/experiments/statistics';

describe('the normal distribution', () => {
  it('matches SciPy to 1e-7', () => {
    const cdf: [number, number][] = [
      [-3, 0.0013498980316300933],
      [-1.96, 0.024997895148220435],
      [0, 0.5],
      [0.5, 0.6914624612740131],
      [2.5758, 0.9949995762622214],
    ];
    for (const [z, expected] of cdf) expect(Math.abs(normalCdf(z) - expected)).toBeLessThan(1e-7);
    const ppf: [number, number][] = [
      [0.975, 1.959963984540054],
      [0.995, 2.5758293035489004],
      [1e-6, -4.753424308822899],
      [0.3, -0.5244005127080409],
    ];
    for (const [p, expected] of ppf) expect(Math.abs(normalQuantile(p) - expected)).toBeLessThan(1e-5);
  });
});

describe('two proportions', () => {
  it("gives the pooled z-test p-value SciPy gives (120/1000 vs 150/1000), and Newcombe's interval", () => {
    const result = compareProportions(120, 1_000, 150, 1_000);
    expect(result.difference).toBeCloseTo(0.03, 12);
    expect(Math.abs(result.pValue - 0.04964038686536878)).toBeLessThan(1e-6);
    // Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70 against
    // 48/80, method 10 (score, no continuity correction): 0.0524 to 0.3339.
    const newcombe = compareProportions(48, 80, 56, 70);
    expect(newcombe.difference).toBeCloseTo(0.2, 12);
    expect(newcombe.low).toBeCloseTo(0.0524, 4);
    expect(newcombe.high).toBeCloseTo(0.3339, 4);
    // Wilson's interval itself, same paper, 81/263: 0.2553 to 0.3662.
    const [low, high] = wilson(81, 263, normalQuantile(0.975));
    expect(low).toBeCloseTo(0.2553, 4);
    expect(high).toBeCloseTo(0.3662, 4);
  });

  it('says nothing differs when both arms are the same, and refuses an empty arm', () => {
    expect(compareProportions(0, 50, 0, 80).pValue).toBe(1);
    expect(compareProportions(10, 100, 10, 100).pValue).toBeCloseTo(1, 6);
    expect(() => compareProportions(0, 0, 1, 2)).toThrow(RangeError);
  });

  it('widens with clusters: the same rates from 20 users of 10 requests each, against 200 users of one', () => {
    const singles = (events: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ events: i < events ? 1 : 0, trials: 1 }));
    // One user's requests fail together: 2 of 20 users saw every request fail.
    const grouped = (users: number, failing: number) =>
      Array.from({ length: users }, (_, i) => ({ events: i < failing ? 10 : 0, trials: 10 }));
    const independent = compareClusteredProportions(singles(20, 200), singles(40, 200));
    const clustered = compareClusteredProportions(grouped(20, 2), grouped(20, 4));
    expect(clustered.difference).toBeCloseTo(independent.difference, 12);
    expect(clustered.high - clustered.low).toBeGreaterThan(2.5 * (independent.high - independent.low));
    expect(clustered.pValue).toBeGreaterThan(independent.pValue);
    // One request per cluster: compareProportions itself (the design effect, n/(n-1), aside).
    const plain = compareProportions(20, 200, 40, 200);
    expect(independent.low).toBeCloseTo(plain.low, 2);
    expect(independent.high).toBeCloseTo(plain.high, 2);
    // No event anywhere: the design effect cannot be measured, the interval is Newcombe's, not [0, 0].
    const none = compareClusteredProportions(grouped(20, 0), grouped(20, 0));
    expect(none.high).toBeGreaterThan(0.01);
    expect(none.low).toBeLessThan(-0.01);
  });
});

describe('the sample ratio', () => {
  it('is the chi-square goodness of fit SciPy gives, for 2, 3 and 4 arms', () => {
    // scipy.stats.chisquare([5100, 4900], [5000, 5000]).pvalue and so on.
    expect(sampleRatioPValue([5_100, 4_900], [5_000, 5_000])).toBeCloseTo(0.04550026389635857, 6);
    expect(sampleRatioPValue([820, 100, 80], [8_000, 1_000, 1_000])).toBeCloseTo(0.10539922456186433, 6);
    expect(sampleRatioPValue([700, 100, 100, 100], [7_000, 1_000, 1_000, 1_000])).toBeCloseTo(1, 6);
    expect(sampleRatioPValue([650, 150, 100, 100], [7_000, 1_000, 1_000, 1_000])).toBeCloseTo(
      2.755316801335889e-6,
      9,
    );
    // Traffic where the split says none: broken.
    expect(sampleRatioPValue([90, 10], [10_000, 0])).toBe(0);
  });
});

describe('quantiles and the bootstrap', () => {
  it('interpolates quantiles as NumPy does, by sorting or by selection', () => {
    expect(quantile([1, 2, 3, 4, 10], 0.95)).toBeCloseTo(8.8, 12);
    const values = [120, 135, 150, 150, 160, 171, 180, 200, 210, 250, 260, 300];
    expect(quantile(values, 0.5)).toBeCloseTo(175.5, 12);
    const random = seeded(3);
    for (let n = 1; n < 60; n += 7) {
      const xs = Array.from({ length: n }, () => Math.floor(random() * 50));
      const sorted = [...xs].sort((a, b) => a - b);
      for (const q of [0, 0.05, 0.5, 0.95, 1]) {
        expect(quantileStatistic(q)(Float64Array.from(xs), n)).toBeCloseTo(quantile(sorted, q), 12);
        // In a longer buffer (the bootstrap's scratch), only the first n count.
        const longer = Float64Array.from([...xs, -1e9, 1e9, 7]);
        expect(quantileStatistic(q)(longer, n)).toBeCloseTo(quantile(sorted, q), 12);
      }
    }
  });

  it('is the same for the same seed, covers a constructed difference, and gives its relative interval', () => {
    const draw = seeded(7);
    const control = Array.from({ length: 400 }, () => [800 + draw() * 400]);
    // The variant is the control's distribution, 300 ms slower: its p95 differs by 300.
    const variant = control.map(([v]) => [(v as number) + 300]);
    const p95 = quantileStatistic(0.95);
    const [first] = bootstrapCompare(control, variant, [p95], { seed: 11 });
    expect(bootstrapCompare(control, variant, [p95], { seed: 11 })).toEqual([first]);
    expect(first?.difference).toBeCloseTo(300, 6);
    expect(first?.low).toBeLessThan(300);
    expect(first?.high).toBeGreaterThan(300);
    expect(first?.low).toBeGreaterThan(0);
    expect(first?.relative).toBeCloseTo(
      300 /
        quantile(
          control.flat().sort((a, b) => a - b),
          0.95,
        ),
      9,
    );
    expect(first?.relativeLow).toBeLessThan(first?.relative as number);
    expect(first?.relativeHigh).toBeGreaterThan(first?.relative as number);
    // Every resample is slower: the p-value is as small as 2000 resamples can say (2/2001).
    expect(first?.pValue).toBeCloseTo(2 / 2_001, 12);
    // The same data in both arms: no evidence either way.
    expect(bootstrapCompare(control, control, [p95], { seed: 11 })[0]?.pValue).toBeGreaterThan(0.5);
  });

  it("resamples whole clusters: a user's correlated latencies widen the interval", () => {
    const draw = seeded(5);
    // 40 users, 10 requests each, each user with a latency level of their own.
    const users = (shift: number) =>
      Array.from({ length: 40 }, () => {
        const level = 100 + draw() * 200;
        return Array.from({ length: 10 }, () => level + shift + draw() * 10);
      });
    const control = users(0);
    const variant = users(0);
    const mean = [meanStatistic];
    const [byUser] = bootstrapCompare(control, variant, mean, { seed: 2 });
    const [byRequest] = bootstrapCompare(
      control.flat().map((v) => [v]),
      variant.flat().map((v) => [v]),
      mean,
      { seed: 2 },
    );
    expect(byUser?.difference).toBeCloseTo(byRequest?.difference as number, 9);
    const width = (c: typeof byUser) => (c?.high as number) - (c?.low as number);
    expect(width(byUser)).toBeGreaterThan(2 * width(byRequest));
  });
});

describe('several metrics, and the verdict', () => {
  it("adjusts p-values by Holm's step-down", () => {
    expect(holm([0.01, 0.04, 0.03, 0.005])).toEqual([0.03, 0.06, 0.06, 0.02]);
    expect(holm([0.5, 0.9])).toEqual([1, 1]);
  });

  it('calls no winner below the minimum sample size, and reads the direction by the metric', () => {
    const base = { adjustedP: 0.001, minSamples: 100, alpha: 0.05 } as const;
    expect(verdict({ ...base, difference: -0.02, samples: [99, 500], better: 'lower' })).toBe(
      'no difference yet',
    );
    expect(verdict({ ...base, difference: -0.02, samples: [500, 500], better: 'lower' })).toBe('better');
    expect(verdict({ ...base, difference: -0.02, samples: [500, 500], better: 'higher' })).toBe('worse');
    expect(verdict({ ...base, difference: 0.02, samples: [500, 500], better: 'lower' })).toBe('worse');
    expect(verdict({ ...base, adjustedP: 0.2, difference: 0.02, samples: [500, 500], better: 'lower' })).toBe(
      'no difference yet',
    );
  });
});
