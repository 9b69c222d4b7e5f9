/**
 * The report's statistics against known answers: the figures below were computed with SciPy 1.17
 * (`scipy.stats.norm`) and NumPy's `percentile`, in the project's venv; Holm's adjustment by its definition.
 */
import { describe, expect, it } from 'vitest';
import {
  bootstrapDifference,
  compareProportions,
  holm,
  normalCdf,
  normalQuantile,
  quantile,
  verdict,
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
  it('gives the pooled z-test p-value and the Wald interval SciPy gives (120/1000 vs 150/1000)', () => {
    const result = compareProportions(120, 1_000, 150, 1_000);
    expect(result.difference).toBeCloseTo(0.03, 12);
    expect(Math.abs(result.pValue - 0.04964038686536878)).toBeLessThan(1e-6);
    expect(Math.abs(result.low - 7.602882129778554e-5)).toBeLessThan(1e-6);
    expect(Math.abs(result.high - 0.05992397117870221)).toBeLessThan(1e-6);
  });

  it('says nothing differs when both arms are the same, and refuses an empty arm', () => {
    expect(compareProportions(0, 50, 0, 80).pValue).toBe(1);
    expect(compareProportions(10, 100, 10, 100).pValue).toBeCloseTo(1, 6);
    expect(() => compareProportions(0, 0, 1, 2)).toThrow(RangeError);
  });
});

describe('quantiles and the bootstrap', () => {
  it('interpolates quantiles as NumPy does', () => {
    expect(quantile([1, 2, 3, 4, 10], 0.95)).toBeCloseTo(8.8, 12);
    expect(quantile([120, 135, 150, 150, 160, 171, 180, 200, 210, 250, 260, 300], 0.5)).toBeCloseTo(
      175.5,
      12,
    );
  });

  it('is the same for the same seed, and its interval covers a constructed difference in p95', () => {
    const random = (seed: number) => {
      let s = seed;
      return () => {
        s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
        return s / 2_147_483_648;
      };
    };
    const draw = random(7);
    const control = Array.from({ length: 400 }, () => 800 + draw() * 400);
    // The variant is the control's distribution, 300 ms slower: its p95 differs by 300.
    const variant = control.map((v) => v + 300);
    const p95 = (sorted: readonly number[]) => quantile(sorted, 0.95);
    const first = bootstrapDifference(control, variant, p95, { seed: 11 });
    expect(bootstrapDifference(control, variant, p95, { seed: 11 })).toEqual(first);
    expect(first.difference).toBeCloseTo(300, 6);
    expect(first.low).toBeLessThan(300);
    expect(first.high).toBeGreaterThan(300);
    expect(first.low).toBeGreaterThan(0);
    // Every resample is slower: the p-value is as small as 2000 resamples can say (2/2001).
    expect(first.pValue).toBeCloseTo(2 / 2_001, 12);
    // The same data in both arms: no evidence either way.
    expect(bootstrapDifference(control, control, p95, { seed: 11 }).pValue).toBeGreaterThan(0.5);
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
