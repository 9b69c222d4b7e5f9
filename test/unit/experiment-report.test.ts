/**
 * From traces to a verdict, without a server: what a trace says about an arm, the report's
 * per-arm figures and comparisons (Holm across them, no verdict below the minimum sample), the
 * guardrail syntax, the rollout's decisions on constructed reports, and the trace filter.
 */
import { describe, expect, it } from 'vitest';
import { rolloutPrincipal } from '../../functions/rollout/core';
import type { ExperimentDefinition, Guard } from '../../lib/experiments/definition';
import { formatGuard, parseGuards } from '../../lib/experiments/guards';
import { experimentFilter, readObservations } from '../../lib/experiments/read';
import {
  buildReport,
  DEFAULT_REPORT_OPTIONS,
  type ExperimentReport,
  type MetricComparison,
  MODEL_MS_TAG,
  type Observation,
  observe,
} from '../../lib/experiments/report';
import { decideRollout, judgeGuard } from '../../lib/experiments/rollout';
import { ARM_TAGS } from '../../lib/experiments/serve';
import { seeded } from '../../lib/experiments/statistics';
import type { TraceQuery, TraceSummary } from '../../lib/registry/tracking';

const DEFINITION: ExperimentDefinition = {
  id: 'brevity',
  revision: 3,
  control: 'production',
  variants: [{ alias: 'candidate', weight_bp: 5_000 }],
  key: 'user',
  status: 'running',
  started_at: '2026-12-01T00:00:00.000Z',
};

const trace = (over: Partial<TraceSummary> = {}): TraceSummary => ({
  traceId: 'tr-0',
  requestTime: 0,
  durationMs: 812,
  state: 'OK',
  tags: { [ARM_TAGS.arm('orchestrator')]: 'candidate', [MODEL_MS_TAG]: '240' },
  metadata: { 'mlflow.trace.tokenUsage': '{"input_tokens": 90, "output_tokens": 30, "total_tokens": 120}' },
  assessments: [],
  ...over,
});

describe('a trace as an observation', () => {
  it('reads the arm, the state, the fallback flag, latency by source, tokens and the latest judgement', () => {
    const seen = observe(
      trace({
        state: 'ERROR',
        tags: {
          [ARM_TAGS.arm('orchestrator')]: 'candidate',
          [ARM_TAGS.fallback('orchestrator')]: 'production',
          [MODEL_MS_TAG]: '240',
        },
        assessments: [
          { name: 'user_feedback', value: true, valid: true, createdAt: 10 },
          { name: 'user_feedback', value: false, valid: true, createdAt: 20 },
          { name: 'user_feedback', value: true, valid: false, createdAt: 30 },
          { name: 'relevance', value: true, valid: true, createdAt: 40 },
        ],
      }),
      'orchestrator',
      'trace',
    );
    expect(seen).toEqual({
      arm: 'candidate',
      unit: 'trace:tr-0',
      error: true,
      fallback: true,
      latencyMs: 812,
      tokens: 120,
      positive: false,
    });
    expect(observe(trace(), 'orchestrator', 'model')?.latencyMs).toBe(240);
    // Not in the experiment (no arm for this prompt), or no model time reported.
    expect(observe(trace(), 'synthesizer', 'trace')).toBeUndefined();
    expect(
      observe(trace({ tags: { [ARM_TAGS.arm('orchestrator')]: 'x' } }), 'orchestrator', 'model')?.latencyMs,
    ).toBeUndefined();
  });
});

/** n observations of an arm: errors with probability `errorRate`, latency around `ms`, from a seed. */
function arm(
  alias: string,
  n: number,
  o: { errorRate?: number; ms?: number; positive?: number; seed: number },
): Observation[] {
  const random = seeded(o.seed);
  return Array.from({ length: n }, (_, i) => ({
    arm: alias,
    unit: `trace:${alias}-${i}`,
    error: random() < (o.errorRate ?? 0),
    fallback: false,
    latencyMs: (o.ms ?? 200) * (0.8 + 0.4 * random()),
    tokens: 100 + Math.floor(random() * 20),
    positive: random() < (o.positive ?? 0.7),
  }));
}

const comparison = (report: ExperimentReport, metric: string) =>
  report.comparisons.find((c) => c.metric === metric) as MetricComparison;

describe('the report', () => {
  it('finds a constructed regression (more errors, slower) and calls the rest no difference', () => {
    const observations = [
      ...arm('production', 400, { errorRate: 0.02, ms: 200, seed: 1 }),
      ...arm('candidate', 400, { errorRate: 0.12, ms: 260, seed: 2 }),
    ];
    const report = buildReport(DEFINITION, observations);
    expect(report.arms.map((a) => [a.alias, a.role, a.requests])).toEqual([
      ['production', 'control', 400],
      ['candidate', 'variant', 400],
    ]);
    expect(comparison(report, 'error_rate').verdict).toBe('worse');
    expect(comparison(report, 'p50_latency').verdict).toBe('worse');
    expect(comparison(report, 'p95_latency').verdict).toBe('worse');
    expect(comparison(report, 'p50_latency').relative).toBeCloseTo(0.3, 1);
    expect(comparison(report, 'mean_tokens').verdict).toBe('no difference yet');
    expect(comparison(report, 'fallback_rate').verdict).toBe('no difference yet');
    // Holm: every adjusted p is at least its raw p.
    for (const c of report.comparisons)
      expect(c.adjustedP as number).toBeGreaterThanOrEqual(c.pValue as number);
  });

  it('calls no winner on an A/A split, and none below the minimum sample however large the gap', () => {
    const aa = buildReport(DEFINITION, [
      ...arm('production', 500, { errorRate: 0.05, seed: 3 }),
      ...arm('candidate', 500, { errorRate: 0.05, seed: 4 }),
    ]);
    expect(aa.comparisons.map((c) => c.verdict)).toEqual(Array(6).fill('no difference yet'));
    const small = buildReport(DEFINITION, [
      ...arm('production', 40, { errorRate: 0, seed: 5 }),
      ...arm('candidate', 40, { errorRate: 0.9, seed: 6 }),
    ]);
    expect(comparison(small, 'error_rate').verdict).toBe('no difference yet');
    expect(comparison(small, 'error_rate').difference as number).toBeGreaterThan(0.8);
    // Untested comparisons take no share of alpha: none has an adjusted p.
    expect(small.comparisons.every((c) => c.adjustedP === null)).toBe(true);
  });

  it('is the same whatever order the traces came in', () => {
    const observations = [
      ...arm('production', 200, { ms: 200, seed: 7 }),
      ...arm('candidate', 200, { ms: 210, seed: 8 }),
    ];
    const once = buildReport(DEFINITION, observations);
    expect(buildReport(DEFINITION, [...observations].reverse())).toEqual(once);
  });

  it('keeps its family-wise error rate when users make several requests (A/A, users as clusters)', () => {
    // 40 A/A splits of 240 users, each making 1 to 10 requests, each user with a latency level and
    // an error propensity of their own: requests of one user are not independent.
    const split = (seed: number, asClusters: boolean): Observation[] => {
      const random = seeded(seed);
      return Array.from({ length: 240 }, (_, user) => {
        const arm = random() < 0.5 ? 'production' : 'candidate';
        const level = 100 * (1 + 0.65 * random());
        const failing = random() < 0.1 ? 0.5 : 0.01;
        return Array.from({ length: 1 + Math.floor(random() * 10) }, (_, i) => ({
          arm,
          unit: asClusters ? `bucket:${user}` : `trace:${user}-${i}`,
          error: random() < failing,
          fallback: false,
          latencyMs: level * (0.9 + 0.2 * random()),
          tokens: 700 + Math.floor(random() * 40),
          positive: undefined,
        }));
      }).flat();
    };
    const options = { ...DEFAULT_REPORT_OPTIONS, minSamples: 50, rounds: 500 };
    const falseVerdicts = (asClusters: boolean) =>
      Array.from({ length: 40 }, (_, seed) =>
        buildReport(DEFINITION, split(seed + 100, asClusters), options),
      ).filter((r) => r.comparisons.some((c) => c.verdict !== 'no difference yet')).length;
    // At alpha 0.05 about 2 of 40; treating each request as independent calls many more.
    const clustered = falseVerdicts(true);
    const naive = falseVerdicts(false);
    console.log(
      `A/A with repeated users: ${clustered}/40 reports with a false verdict by user, ${naive}/40 by request`,
    );
    expect(clustered).toBeLessThanOrEqual(5);
    expect(naive).toBeGreaterThan(clustered + 5);
  });

  it('counts users, not requests, against the split, and judges nothing on a handful of users', () => {
    const random = seeded(21);
    // 400 users at 95/5, each making 1 to 40 requests (a heavy tail): healthy, whatever the requests.
    const observations = Array.from({ length: 400 }, (_, user) => {
      const arm = user % 20 === 0 ? 'candidate' : 'production';
      return Array.from({ length: 1 + Math.floor(random() ** 3 * 40) }, () => ({
        arm,
        unit: `bucket:${user}`,
        error: false,
        fallback: false,
        latencyMs: 100,
        tokens: 700,
        positive: undefined,
      }));
    }).flat();
    const split = { ...DEFINITION, variants: [{ alias: 'candidate', weight_bp: 500 }] };
    const report = buildReport(split, observations);
    expect(report.sampleRatio).toMatchObject({
      observed: [380, 20],
      weights: [9_500, 500],
      counted: 'units',
    });
    expect(report.sampleRatio.pValue as number).toBeGreaterThan(0.5);
    // Not judged when an arm was read in part (the counts are not whole).
    expect(
      buildReport(split, observations, DEFAULT_REPORT_OPTIONS, 'an arm was read only in part').sampleRatio,
    ).toMatchObject({ pValue: null, skipped: 'an arm was read only in part' });
    // One user with 500 requests is one user: no verdict, whatever the gap.
    const one = (arm: string, ms: number) =>
      Array.from({ length: 500 }, () => ({
        arm,
        unit: `bucket:${arm}`,
        error: false,
        fallback: false,
        latencyMs: ms,
        tokens: 1,
        positive: undefined,
      }));
    const lone = buildReport(DEFINITION, [...one('production', 100), ...one('candidate', 300)]);
    expect(comparison(lone, 'p50_latency')).toMatchObject({
      units: [1, 1],
      adjustedP: null,
      verdict: 'no difference yet',
    });
  });

  it('reports an arm with no traffic, without comparisons to make', () => {
    const report = buildReport(DEFINITION, arm('production', 10, { seed: 9 }));
    expect(report.arms[1]).toMatchObject({
      alias: 'candidate',
      requests: 0,
      errorRate: null,
      latencyP95Ms: null,
    });
    expect(report.comparisons.every((c) => c.difference === null && c.verdict === 'no difference yet')).toBe(
      true,
    );
  });
});

describe('guardrails as written', () => {
  it('parses the documented form and prints it back', () => {
    const guards = parseGuards('error_rate<=+1pp, p95_latency<=+20%,feedback>=-5pp');
    expect(guards).toEqual([
      { metric: 'error_rate', comparison: '<=', limit: 1, unit: 'pp' },
      { metric: 'p95_latency', comparison: '<=', limit: 20, unit: '%' },
      { metric: 'feedback', comparison: '>=', limit: -5, unit: 'pp' },
    ]);
    expect(guards.map(formatGuard).join(',')).toBe('error_rate<=+1pp,p95_latency<=+20%,feedback>=-5pp');
  });

  it.each([
    ['a strict comparison', 'error_rate<1pp', /is not <metric>/],
    ['an unknown metric', 'latency<=+1%', /unknown metric 'latency'/],
    ['points on a latency', 'p95_latency<=+10pp', /'%'/],
    ['a share of a rate', 'error_rate<=+10%', /rates .* take limits in 'pp'/],
    ['a bound on the better side', 'error_rate>=+1pp', /how much worse/],
    ['feedback bounded from above', 'feedback<=+5pp', /'>=' for feedback/],
    ['2,000 characters', 'a'.repeat(2_000), /at most 1000 characters/],
  ])('refuses %s', (_label, text, message) => {
    expect(() => parseGuards(text)).toThrow(message);
  });

  it('takes a bounded time on hostile input', () => {
    const started = performance.now();
    expect(() => parseGuards(`error_rate<=${'1'.repeat(900)}pp`)).toThrow();
    expect(performance.now() - started).toBeLessThan(200);
  });
});

const ROLLOUT: ExperimentDefinition = {
  ...DEFINITION,
  variants: [{ alias: 'candidate', weight_bp: 500 }],
  guardrails: parseGuards('error_rate<=+1pp,p95_latency<=+20%'),
  rollout: { steps: [5, 25, 50, 100], step: 0 },
};

function measured(metric: MetricComparison['metric'], c: Partial<MetricComparison>): MetricComparison {
  return {
    variant: 'candidate',
    metric,
    control: 0.02,
    difference: 0,
    low: -0.01,
    high: 0.01,
    relative: 0,
    relativeLow: null,
    relativeHigh: null,
    pValue: 1,
    adjustedP: 1,
    samples: [150, 150],
    units: [150, 150],
    verdict: 'no difference yet',
    ...c,
  };
}

const emptyArm = {
  requests: 150,
  errorRate: 0,
  fallbackRate: 0,
  latencyP50Ms: 100,
  latencyP95Ms: 150,
  meanTokens: 700,
  feedback: 0,
  positiveRate: null,
};

const reportWith = (...comparisons: MetricComparison[]): ExperimentReport => ({
  experiment: 'brevity',
  control: 'production',
  observations: 300,
  sampleRatio: { observed: [150, 150], weights: [5_000, 5_000], counted: 'units', pValue: 1, skipped: null },
  minSamples: 100,
  alpha: 0.05,
  arms: [],
  comparisons,
});

describe('the rollout decision', () => {
  /** A p95 comparison; `relative` in percent sets the relative estimate and interval. */
  const p95 = (relative: [number, number, number] = [5, -2, 12]) =>
    measured('p95_latency', {
      control: 1_000,
      difference: relative[0] * 10,
      low: relative[1] * 10,
      high: relative[2] * 10,
      relative: relative[0] / 100,
      relativeLow: relative[1] / 100,
      relativeHigh: relative[2] / 100,
    });

  it('advances when every guardrail holds with enough samples, and completes from the step before 100 %', () => {
    const healthy = reportWith(measured('error_rate', {}), p95());
    expect(decideRollout(ROLLOUT, healthy)).toMatchObject({ action: 'advance', toStep: 1, percent: 25 });
    const at50 = { ...ROLLOUT, rollout: { steps: [5, 25, 50, 100], step: 2 } };
    expect(decideRollout(at50, healthy)).toMatchObject({ action: 'complete' });
    expect(decideRollout(at50, healthy).reason).toContain('guardrails hold at 50 %');
  });

  it('halts when a guardrail is broken with confidence', () => {
    const broken = reportWith(measured('error_rate', { difference: 0.06, low: 0.03, high: 0.09 }), p95());
    const decision = decideRollout(ROLLOUT, broken);
    expect(decision.action).toBe('halt');
    expect(decision.reason).toContain('error_rate<=+1pp (6 [3, 9]');
  });

  it('waits while a guardrail lacks samples or its estimate is beyond the limit without confidence', () => {
    expect(
      decideRollout(ROLLOUT, reportWith(measured('error_rate', { samples: [150, 40] }), p95())).action,
    ).toBe('hold');
    // p95 +25 % estimated, interval reaching below +20 %: not yet a break, not a pass.
    expect(decideRollout(ROLLOUT, reportWith(measured('error_rate', {}), p95([25, 15, 35]))).action).toBe(
      'hold',
    );
    // Within the limit by its estimate, not by its interval (+15 % [+5, +28]): not yet a pass.
    expect(decideRollout(ROLLOUT, reportWith(measured('error_rate', {}), p95([15, 5, 28]))).action).toBe(
      'hold',
    );
    // A metric never measured (no traces in one arm) waits too.
    expect(decideRollout(ROLLOUT, reportWith(measured('error_rate', {}))).action).toBe('hold');
  });

  it('halts on a broken guardrail even when the window also does not fit the split', () => {
    const broken = decideRollout(ROLLOUT, {
      ...reportWith(measured('error_rate', { difference: 0.3, low: 0.2, high: 0.4 }), p95()),
      sampleRatio: {
        observed: [150, 40],
        weights: [9_500, 500],
        counted: 'units',
        pValue: 1e-9,
        skipped: null,
      },
    });
    expect(broken.action).toBe('halt');
  });

  it('waits, whatever the guardrails say, when the window does not measure the variant', () => {
    const healthy = [measured('error_rate', {}), p95()];
    const mismatch = decideRollout(ROLLOUT, {
      ...reportWith(...healthy),
      sampleRatio: {
        observed: [150, 40],
        weights: [9_500, 500],
        counted: 'units',
        pValue: 1e-9,
        skipped: null,
      },
    });
    expect(mismatch).toMatchObject({ action: 'hold' });
    expect(mismatch.reason).toContain('do not fit the split');
    const unserved = decideRollout(ROLLOUT, {
      ...reportWith(...healthy),
      arms: [
        { ...emptyArm, alias: 'production', role: 'control', fallbackRate: 0 },
        { ...emptyArm, alias: 'candidate', role: 'variant', fallbackRate: 0.2 },
      ],
    });
    expect(unserved).toMatchObject({ action: 'hold' });
    expect(unserved.reason).toContain("20.0 % of the variant's requests were served control");
  });

  it('judges a guard in its unit: percentage points of a rate, percent of control', () => {
    const guard: Guard = { metric: 'p95_latency', comparison: '<=', limit: 20, unit: '%' };
    // The relative interval is the bootstrap's own (it carries control's uncertainty).
    expect(judgeGuard(guard, p95([15, 11, 19]), 100)).toMatchObject({
      state: 'holds',
      value: 15,
      low: 11,
      high: 19,
    });
    expect(judgeGuard(guard, p95([30, 21, 39]), 100).state).toBe('breaks');
    const feedback: Guard = { metric: 'feedback', comparison: '>=', limit: -5, unit: 'pp' };
    expect(
      judgeGuard(feedback, measured('feedback', { difference: -0.2, low: -0.3, high: -0.1 }), 100).state,
    ).toBe('breaks');
    expect(
      judgeGuard(feedback, measured('feedback', { difference: 0.01, low: -0.04, high: 0.06 }), 100).state,
    ).toBe('holds');
  });
});

describe('reading the traces', () => {
  it('filters on the experiment tag of one revision or all, and refuses what it would have to quote', () => {
    expect(experimentFilter('orchestrator', 'brevity', 3)).toBe(
      "tags.`promptops.experiment.orchestrator` = 'brevity#3'",
    );
    expect(experimentFilter('orchestrator', 'brevity', 'all', 1_000)).toBe(
      "tags.`promptops.experiment.orchestrator` LIKE 'brevity#%' AND trace.timestamp_ms >= 1000",
    );
    expect(experimentFilter('orchestrator', 'brevity', 3, undefined, 'candidate')).toBe(
      "tags.`promptops.experiment.orchestrator` = 'brevity#3' AND tags.`promptops.arm.orchestrator` = 'candidate'",
    );
    expect(() => experimentFilter('orchestrator', 'brevity', 3, undefined, "c' OR '1")).toThrow(
      /not an alias/,
    );
    expect(() => experimentFilter("x' OR 1=1", 'brevity', 1)).toThrow(/not a prompt key/);
    expect(() => experimentFilter('orchestrator', "b' OR '1", 1)).toThrow(/not an experiment id/);
  });

  it('pages to the bound and says when it stopped short', async () => {
    const pages: { maxResults: number | undefined; pageToken: string | undefined }[] = [];
    const tracking = {
      async searchTraces(q: TraceQuery) {
        pages.push({ maxResults: q.maxResults, pageToken: q.pageToken });
        const n = q.maxResults ?? 100;
        return { traces: Array.from({ length: n }, () => trace()), nextPageToken: `p${pages.length}` };
      },
    };
    const read = await readObservations(tracking, {
      experimentId: '0',
      key: 'orchestrator',
      definition: DEFINITION,
      latency: 'trace',
      maxTraces: 1_200,
    });
    // Each arm to its own bound: a small variant is not crowded out by control.
    expect(pages.map((p) => p.maxResults)).toEqual([500, 500, 200, 500, 500, 200]);
    expect(pages.map((p) => p.pageToken)).toEqual([undefined, 'p1', 'p2', undefined, 'p4', 'p5']);
    expect(read).toMatchObject({ traces: 2_400, truncated: true });
    expect(read.observations).toHaveLength(2_400);
  });
});

describe("the rollout function's principal", () => {
  it("is its role's STS session, named after the function, as API Gateway names any caller", () => {
    expect(
      rolloutPrincipal(
        { ROLLOUT_ROLE_NAME: 'promptops-prod-RolloutRole-1AB2' },
        {
          functionName: 'promptops-prod-rollout',
          invokedFunctionArn:
            'arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:promptops-prod-rollout',
        },
      ),
    ).toBe(
      'arn:aws-us-gov:sts::123456789012:assumed-role/promptops-prod-RolloutRole-1AB2/promptops-prod-rollout',
    );
    expect(() =>
      rolloutPrincipal({ ROLLOUT_ROLE_NAME: 'r' }, { functionName: 'f', invokedFunctionArn: 'offline_f' }),
    ).toThrow(/names no account/);
  });
});
