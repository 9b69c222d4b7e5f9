/**
 * Experiments on prompt versions: the definition (checked, named field by field) and the
 * assignment (MurmurHash3 into 10,000 buckets): stable per key, a split within ±1.5 percentage
 * points of its weights over 20,000 keys, independent between experiments, per request without a
 * key, and control whenever the experiment takes no traffic.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lib/errors';
import { assign, bucketOf, murmur3 } from '../../lib/experiments/assignment';
import {
  type ExperimentDefinition,
  experimentTagValue,
  parseExperimentTag,
  validateExperiment,
} from '../../lib/experiments/definition';

const BASE: ExperimentDefinition = {
  id: 'orchestrator-tone',
  revision: 1,
  control: 'production',
  variants: [{ alias: 'candidate', weight_bp: 1_000 }],
  key: 'user',
  status: 'running',
  started_at: '2026-12-01T00:00:00.000Z',
};
const NOW = Date.parse('2026-12-06T00:00:00.000Z');
const keys = (n: number, prefix = 'user') =>
  Array.from({ length: n }, (_, i) => `${prefix}-${i}@example.com`);

describe('the experiment definition', () => {
  it('round-trips through its tag', () => {
    const full: ExperimentDefinition = {
      ...BASE,
      ends_at: '2026-12-31T00:00:00.000Z',
      guardrails: [{ metric: 'error_rate', comparison: '<=', limit: 1, unit: 'pp' }],
      rollout: { steps: [5, 25, 50, 100], step: 0 },
    };
    expect(parseExperimentTag('p', experimentTagValue(full))).toEqual(full);
  });

  it.each([
    ['no variant', { variants: [] }, /variants: expected 1 to 3 variants/],
    [
      'four variants',
      { variants: ['a', 'b', 'c', 'd'].map((alias) => ({ alias, weight_bp: 100 })) },
      /1 to 3/,
    ],
    [
      'weights over the whole',
      {
        variants: [
          { alias: 'a', weight_bp: 6_000 },
          { alias: 'b', weight_bp: 5_000 },
        ],
      },
      /11000 basis points/,
    ],
    [
      'control as a variant',
      { variants: [{ alias: 'production', weight_bp: 10 }] },
      /control alias cannot also be a variant/,
    ],
    [
      'a variant twice',
      {
        variants: [
          { alias: 'a', weight_bp: 1 },
          { alias: 'a', weight_bp: 1 },
        ],
      },
      /each variant alias once/,
    ],
    ['a fractional weight', { variants: [{ alias: 'a', weight_bp: 1.5 }] }, /whole basis points/],
    ['an alias MLflow refuses', { control: 'prod uction' }, /control: expected an alias/],
    ['latest as control', { control: 'latest' }, /control: expected an alias/],
    ['an unknown key', { key: 'tenant' }, /key/],
    [
      'an end before the start',
      { ends_at: '2026-11-01T00:00:00.000Z' },
      /ends_at: expected a time after started_at/,
    ],
    ['an unknown field', { owner: 'me' }, /owner/],
    ['a rollout not ending at 100', { rollout: { steps: [5, 50], step: 0 } }, /last step to be 100/],
    ['a rollout of one step', { rollout: { steps: [100], step: 0 } }, /at least two steps/],
    ['a rollout standing at 100', { rollout: { steps: [50, 100], step: 1 } }, /before its last/],
  ])('refuses %s, naming the field', (_label, change, message) => {
    const attempt = () => validateExperiment({ ...BASE, ...change });
    expect(attempt).toThrow(InvalidInputError);
    expect(attempt).toThrow(message);
  });

  it('names the prompt whose tag is malformed', () => {
    expect(() => parseExperimentTag('orchestrator', '{')).toThrow(/prompt 'orchestrator' is not JSON/);
    expect(() => parseExperimentTag('orchestrator', '{"id":"x"}')).toThrow(/prompt 'orchestrator'.*revision/);
  });
});

describe('the hash', () => {
  it('is MurmurHash3 x86 32-bit (published test vectors)', () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    expect(murmur3(bytes(''))).toBe(0);
    expect(murmur3(bytes('hello'))).toBe(0x248bfa47);
    expect(murmur3(bytes('The quick brown fox jumps over the lazy dog'))).toBe(0x2e4ff723);
    expect(murmur3(bytes('hello'), 42)).toBe(3_806_057_185);
  });

  it('buckets short and long keys alike (the reused buffer and a key too long for it)', () => {
    for (const key of ['u', 'Zoë 🚀', 'x'.repeat(340), 'é'.repeat(2_000)]) {
      const expected = murmur3(new TextEncoder().encode(`exp\u0000${key}`)) % 10_000;
      expect(bucketOf('exp', key)).toBe(expected);
    }
  });
});

describe('assignment', () => {
  it('puts the same user in the same arm every time, and in [0, 10000)', () => {
    for (const user of keys(500)) {
      const first = assign(BASE, { userId: user, now: NOW });
      expect(assign(BASE, { userId: user, now: NOW, random: () => 0.99 })).toEqual(first);
      expect(first.bucket).toBeGreaterThanOrEqual(0);
      expect(first.bucket).toBeLessThan(10_000);
      expect(first.by).toBe('key');
    }
  });

  it('splits 20,000 users within ±1.5 percentage points of the weights', () => {
    const three: ExperimentDefinition = {
      ...BASE,
      variants: [
        { alias: 'a', weight_bp: 2_000 },
        { alias: 'b', weight_bp: 3_000 },
        { alias: 'c', weight_bp: 500 },
      ],
    };
    const counts = new Map<string, number>();
    for (const user of keys(20_000)) {
      const arm = assign(three, { userId: user, now: NOW }).alias;
      counts.set(arm, (counts.get(arm) ?? 0) + 1);
    }
    const share = (alias: string) => ((counts.get(alias) ?? 0) / 20_000) * 100;
    expect(Math.abs(share('a') - 20)).toBeLessThan(1.5);
    expect(Math.abs(share('b') - 30)).toBeLessThan(1.5);
    expect(Math.abs(share('c') - 5)).toBeLessThan(1.5);
    expect(Math.abs(share('production') - 45)).toBeLessThan(1.5);
  });

  it('splits two experiments independently: each quarter of the joint split within ±1.5 points', () => {
    const a: ExperimentDefinition = { ...BASE, id: 'exp-a', variants: [{ alias: 'v', weight_bp: 5_000 }] };
    const b: ExperimentDefinition = { ...BASE, id: 'exp-b', variants: [{ alias: 'v', weight_bp: 5_000 }] };
    const joint = new Map<string, number>();
    for (const user of keys(20_000)) {
      const cell = `${assign(a, { userId: user, now: NOW }).arm}/${assign(b, { userId: user, now: NOW }).arm}`;
      joint.set(cell, (joint.get(cell) ?? 0) + 1);
    }
    expect([...joint.keys()].sort()).toEqual([
      'control/control',
      'control/variant',
      'variant/control',
      'variant/variant',
    ]);
    for (const count of joint.values()) expect(Math.abs((count / 20_000) * 100 - 25)).toBeLessThan(1.5);
    // The same key has different buckets in different experiments.
    expect(bucketOf('exp-a', 'u1')).not.toBe(bucketOf('exp-b', 'u1'));
  });

  it('splits per request when keyed by request or when the key value is missing', () => {
    const session: ExperimentDefinition = { ...BASE, key: 'session' };
    expect(assign(session, { userId: 'u', now: NOW, random: () => 0.05 })).toMatchObject({
      alias: 'candidate',
      by: 'request',
      bucket: 500,
    });
    expect(assign(session, { now: NOW, random: () => 0.5 })).toMatchObject({
      alias: 'production',
      by: 'request',
    });
    const byRequest: ExperimentDefinition = { ...BASE, key: 'request' };
    expect(assign(byRequest, { userId: 'u', now: NOW, random: () => 0 })).toMatchObject({
      alias: 'candidate',
      by: 'request',
    });
    expect(assign(session, { sessionId: 'conv-1', now: NOW })).toMatchObject({ by: 'key' });
  });

  it('is control when the experiment is halted, not started, or over', () => {
    const always = { now: NOW, random: () => 0 };
    expect(assign({ ...BASE, status: 'halted' }, always).arm).toBe('control');
    expect(assign({ ...BASE, started_at: '2027-01-01T00:00:00.000Z' }, always).arm).toBe('control');
    expect(assign({ ...BASE, key: 'request', ends_at: '2026-12-05T00:00:00.000Z' }, always).arm).toBe(
      'control',
    );
    expect(assign({ ...BASE, key: 'request' }, always).arm).toBe('variant');
  });
});
