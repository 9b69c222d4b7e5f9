/**
 * An experiment's report, from the traces MLflow holds: per arm, what its requests saw (errors,
 * fallbacks, latency, tokens, feedback), and per variant and metric the difference to control,
 * its confidence interval and a verdict. Pure: the traces come in (read.ts pages them from MLflow).
 *
 * - Requests of one user (or session) are not independent: with assignment by user, a user is a
 *   cluster, and every test and interval accounts for it (statistics.ts).
 * - Rates (error, fallback, positive feedback): two-proportion z-test with Newcombe's interval, or
 *   the cluster-robust z-test when some user made several requests.
 * - Latency p50/p95 and mean tokens: a cluster bootstrap (seeded), with its p-value.
 * - A request assigned to a variant but served control (the variant could not be loaded) counts
 *   in its arm's error and fallback rates, not in its latency, tokens or feedback: those measure
 *   the variant's version.
 * - Every comparison of the report that has its minimum sample is one family: Holm's correction
 *   keeps the chance of any false "better" or "worse" at alpha. Intervals are not adjusted.
 * - No verdict for a metric while either arm has fewer than `minSamples` observations of it.
 * - The arms' sizes are checked against the split (sample ratio mismatch).
 */
import type { TraceSummary } from '../registry/tracking';
import type { AssignmentKey, ExperimentDefinition } from './definition';
import { ALL_TRAFFIC_BP } from './definition';
import { ARM_TAGS } from './serve';
import {
  bootstrapCompare,
  type ClusterCount,
  type Comparison,
  compareClusteredProportions,
  compareProportions,
  holm,
  meanStatistic,
  quantileStatistic,
  sampleRatioPValue,
  type Verdict,
  verdict,
} from './statistics';

/** Which duration a request's latency is. */
export type LatencySource = 'trace' | 'model';

/**
 * On a trace: the milliseconds the model endpoint itself reported spending (its
 * `openai-processing-ms` answers, summed), free of the network and of this machine's load.
 */
export const MODEL_MS_TAG = 'promptops.model_ms';
export const FEEDBACK_NAME = 'user_feedback';

export interface Observation {
  readonly arm: string;
  /** What keeps requests together: the assignment bucket of a user or session, else the trace. */
  readonly unit: string;
  readonly error: boolean;
  readonly fallback: boolean;
  readonly latencyMs: number | undefined;
  readonly tokens: number | undefined;
  /** The trace's latest valid up/down judgement, if any. */
  readonly positive: boolean | undefined;
}

function tokensOf(metadata: Readonly<Record<string, string>>): number | undefined {
  const raw = metadata['mlflow.trace.tokenUsage'];
  if (raw === undefined) return undefined;
  try {
    const total = (JSON.parse(raw) as { total_tokens?: unknown }).total_tokens;
    return typeof total === 'number' && Number.isFinite(total) ? total : undefined;
  } catch {
    return undefined;
  }
}

function latestJudgement(trace: TraceSummary): boolean | undefined {
  let latest: { at: number; value: boolean } | undefined;
  for (const a of trace.assessments) {
    if (a.name !== FEEDBACK_NAME || !a.valid || typeof a.value !== 'boolean') continue;
    if (!latest || a.createdAt >= latest.at) latest = { at: a.createdAt, value: a.value };
  }
  return latest?.value;
}

/** What one trace says about the prompt `key`'s experiment; undefined when it is not in it. */
export function observe(
  trace: TraceSummary,
  key: string,
  latency: LatencySource,
  assignedBy: AssignmentKey = 'request',
): Observation | undefined {
  const arm = trace.tags[ARM_TAGS.arm(key)];
  if (arm === undefined) return undefined;
  const modelMs = Number(trace.tags[MODEL_MS_TAG]);
  // Users (or sessions) sharing a bucket share a cluster: coarser clusters only widen intervals.
  const bucket = assignedBy === 'request' ? undefined : trace.tags[ARM_TAGS.bucket(key)];
  return {
    arm,
    unit: bucket === undefined ? `trace:${trace.traceId}` : `bucket:${bucket}`,
    error: trace.state === 'ERROR',
    fallback: trace.tags[ARM_TAGS.fallback(key)] !== undefined,
    latencyMs: latency === 'model' ? (Number.isFinite(modelMs) ? modelMs : undefined) : trace.durationMs,
    tokens: tokensOf(trace.metadata),
    positive: latestJudgement(trace),
  };
}

export interface ArmSummary {
  readonly alias: string;
  readonly role: 'control' | 'variant';
  readonly requests: number;
  readonly errorRate: number | null;
  readonly fallbackRate: number | null;
  readonly latencyP50Ms: number | null;
  readonly latencyP95Ms: number | null;
  readonly meanTokens: number | null;
  readonly feedback: number;
  readonly positiveRate: number | null;
}

export const REPORT_METRICS = [
  'error_rate',
  'fallback_rate',
  'p50_latency',
  'p95_latency',
  'mean_tokens',
  'feedback',
] as const;
export type ReportMetric = (typeof REPORT_METRICS)[number];

export interface MetricComparison {
  readonly variant: string;
  readonly metric: ReportMetric;
  /** Control's value of the metric. */
  readonly control: number | null;
  /** Variant minus control: a fraction for rates, milliseconds or tokens otherwise. */
  readonly difference: number | null;
  readonly low: number | null;
  readonly high: number | null;
  /** The difference relative to control's value, when control's is not 0. */
  readonly relative: number | null;
  /** Its interval (latency and tokens: from the same bootstrap), when there is one. */
  readonly relativeLow: number | null;
  readonly relativeHigh: number | null;
  readonly pValue: number | null;
  /** After Holm's correction across every comparison in the report. */
  readonly adjustedP: number | null;
  readonly samples: readonly [number, number];
  /** The units (users, sessions; requests when assigned by request) those observations came from. */
  readonly units: readonly [number, number];
  readonly verdict: Verdict;
}

export interface ReportOptions {
  readonly minSamples: number;
  /** The family-wise error rate across the report's comparisons. */
  readonly alpha: number;
  readonly seed: number;
  readonly rounds: number;
}

export const DEFAULT_REPORT_OPTIONS: ReportOptions = { minSamples: 100, alpha: 0.05, seed: 1, rounds: 2_000 };

/** Units (users) each arm needs besides its observations: 500 requests of one user are one user. */
export const MIN_UNITS = 30;

/** Whether a comparison has enough of both, observations and units, in each arm to be judged. */
export function hasEnough(c: Pick<MetricComparison, 'samples' | 'units'>, minSamples: number): boolean {
  const units = Math.min(MIN_UNITS, minSamples);
  return (
    c.samples[0] >= minSamples && c.samples[1] >= minSamples && c.units[0] >= units && c.units[1] >= units
  );
}

export interface SampleRatio {
  /**
   * Per arm, control first: units (with assignment by user or session, the users' buckets: each
   * user is assigned once, however many requests they make) or requests; and the split's weights.
   */
  readonly observed: readonly number[];
  readonly weights: readonly number[];
  readonly counted: 'units' | 'requests';
  /** Below 0.001: the arms' sizes do not fit the split; assignment or traces are broken. Null: not tested. */
  readonly pValue: number | null;
  /** Why it was not tested (an arm read only in part, a revision whose split is not this one). */
  readonly skipped: string | null;
}

/** Below this, a sample ratio mismatch is declared. */
export const SAMPLE_RATIO_ALPHA = 0.001;

export interface ExperimentReport {
  readonly experiment: string;
  readonly control: string;
  readonly observations: number;
  readonly sampleRatio: SampleRatio;
  readonly minSamples: number;
  readonly alpha: number;
  readonly arms: readonly ArmSummary[];
  readonly comparisons: readonly MetricComparison[];
}

const GOOD_DIRECTION: Readonly<Record<ReportMetric, 'lower' | 'higher'>> = {
  error_rate: 'lower',
  fallback_rate: 'lower',
  p50_latency: 'lower',
  p95_latency: 'lower',
  mean_tokens: 'lower',
  feedback: 'higher',
};

const orNull = (n: number) => (Number.isFinite(n) ? n : null);
const P50 = quantileStatistic(0.5);
const P95 = quantileStatistic(0.95);
const of = (values: readonly number[], statistic: (v: Float64Array, n: number) => number) =>
  orNull(statistic(Float64Array.from(values), values.length));

/** The arm's observations of one metric, by unit (cluster), leaving out what has no value. */
function clusters<T>(obs: readonly Observation[], value: (o: Observation) => T | undefined): T[][] {
  const byUnit = new Map<string, T[]>();
  for (const o of obs) {
    const v = value(o);
    if (v === undefined) continue;
    const list = byUnit.get(o.unit);
    if (list) list.push(v);
    else byUnit.set(o.unit, [v]);
  }
  // In the units' order, each unit's values sorted: the resamples then depend on the data alone,
  // not on the order MLflow listed the traces in.
  return [...byUnit.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, values]) => values.sort(byValue));
}

/** Numbers ascending; anything else (booleans) false before true. */
function byValue(a: unknown, b: unknown): number {
  return Number(a) - Number(b);
}

const count = (groups: readonly unknown[][]) => groups.reduce((n, g) => n + g.length, 0);
const finite = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : undefined);
/** The variant's own measurements: not a request it was assigned but control served. */
const served = (obs: readonly Observation[]) => obs.filter((o) => !o.fallback);

function summarise(alias: string, role: ArmSummary['role'], obs: readonly Observation[]): ArmSummary {
  const n = obs.length;
  const own = served(obs);
  const latency = own.flatMap((o) => (finite(o.latencyMs) === undefined ? [] : [o.latencyMs as number]));
  const tokens = own.flatMap((o) => (finite(o.tokens) === undefined ? [] : [o.tokens as number]));
  const judged = own.filter((o) => o.positive !== undefined);
  return {
    alias,
    role,
    requests: n,
    errorRate: n === 0 ? null : obs.filter((o) => o.error).length / n,
    fallbackRate: n === 0 ? null : obs.filter((o) => o.fallback).length / n,
    latencyP50Ms: of(latency, P50),
    latencyP95Ms: of(latency, P95),
    meanTokens: of(tokens, meanStatistic),
    feedback: judged.length,
    positiveRate: judged.length === 0 ? null : judged.filter((o) => o.positive).length / judged.length,
  };
}

type Raw = Omit<MetricComparison, 'adjustedP' | 'verdict'>;

const unitsOf = (groups: readonly unknown[][]) => groups.length;

const empty = (
  variant: string,
  metric: ReportMetric,
  samples: [number, number],
  units: [number, number],
): Raw => ({
  variant,
  metric,
  units,
  control: null,
  difference: null,
  low: null,
  high: null,
  relative: null,
  relativeLow: null,
  relativeHigh: null,
  pValue: null,
  samples,
});

function rate(
  metric: ReportMetric,
  variant: string,
  control: readonly boolean[][],
  candidate: readonly boolean[][],
  alpha: number,
): Raw {
  const samples: [number, number] = [count(control), count(candidate)];
  const units: [number, number] = [unitsOf(control), unitsOf(candidate)];
  if (samples[0] === 0 || samples[1] === 0) return empty(variant, metric, samples, units);
  const tally = (groups: readonly boolean[][]): ClusterCount[] =>
    groups.map((g) => ({ events: g.filter(Boolean).length, trials: g.length }));
  const c = tally(control);
  const v = tally(candidate);
  const independent = [...c, ...v].every((g) => g.trials === 1);
  const events = (t: ClusterCount[]) => t.reduce((n, g) => n + g.events, 0);
  const result: Comparison = independent
    ? compareProportions(events(c), samples[0], events(v), samples[1], alpha)
    : compareClusteredProportions(c, v, alpha);
  const base = events(c) / samples[0];
  return {
    variant,
    metric,
    control: base,
    ...result,
    relative: base === 0 ? null : result.difference / base,
    relativeLow: null,
    relativeHigh: null,
    samples,
    units,
  };
}

function continuous(
  metrics: readonly [ReportMetric, (v: Float64Array, n: number) => number][],
  variant: string,
  control: readonly number[][],
  candidate: readonly number[][],
  options: ReportOptions & { rounds: number },
): Raw[] {
  const samples: [number, number] = [count(control), count(candidate)];
  const units: [number, number] = [unitsOf(control), unitsOf(candidate)];
  if (samples[0] === 0 || samples[1] === 0)
    return metrics.map(([metric]) => empty(variant, metric, samples, units));
  const results = bootstrapCompare(
    control,
    candidate,
    metrics.map(([, statistic]) => statistic),
    { rounds: options.rounds, seed: options.seed, alpha: options.alpha },
  );
  return metrics.map(([metric, statistic], i) => ({
    variant,
    metric,
    control: of(control.flat(), statistic),
    ...(results[i] as (typeof results)[number]),
    samples,
    units,
  }));
}

/** The report of `definition`'s experiment from the traces' observations. */
export function buildReport(
  definition: ExperimentDefinition,
  observations: readonly Observation[],
  options: ReportOptions = DEFAULT_REPORT_OPTIONS,
  /** Why the arms' sizes cannot be held to the definition's split, when they cannot. */
  sampleRatioSkipped?: string,
): ExperimentReport {
  const byArm = new Map<string, Observation[]>();
  for (const o of observations) {
    const arm = byArm.get(o.arm);
    if (arm) arm.push(o);
    else byArm.set(o.arm, [o]);
  }
  const control = byArm.get(definition.control) ?? [];
  const variants = definition.variants.map((v) => v.alias);
  const arms = [
    summarise(definition.control, 'control', control),
    ...variants.map((alias) => summarise(alias, 'variant', byArm.get(alias) ?? [])),
  ];
  // Enough resamples that the smallest bootstrap p-value can pass Holm's strictest threshold.
  const comparisonsCount = variants.length * REPORT_METRICS.length;
  const tuned = {
    ...options,
    rounds: Math.max(options.rounds, Math.ceil((4 * comparisonsCount) / options.alpha)),
  };
  const latency = (obs: readonly Observation[]) => clusters(served(obs), (o) => finite(o.latencyMs));
  const tokens = (obs: readonly Observation[]) => clusters(served(obs), (o) => finite(o.tokens));
  const judged = (obs: readonly Observation[]) => clusters(served(obs), (o) => o.positive);
  const raws: Raw[] = [];
  for (const alias of variants) {
    const arm = byArm.get(alias) ?? [];
    raws.push(
      rate(
        'error_rate',
        alias,
        clusters(control, (o) => o.error),
        clusters(arm, (o) => o.error),
        options.alpha,
      ),
      rate(
        'fallback_rate',
        alias,
        clusters(control, (o) => o.fallback),
        clusters(arm, (o) => o.fallback),
        options.alpha,
      ),
      ...continuous(
        [
          ['p50_latency', P50],
          ['p95_latency', P95],
        ],
        alias,
        latency(control),
        latency(arm),
        tuned,
      ),
      ...continuous([['mean_tokens', meanStatistic]], alias, tokens(control), tokens(arm), tuned),
      rate('feedback', alias, judged(control), judged(arm), options.alpha),
    );
  }
  // The family is the comparisons that can reach a verdict: one without enough samples yet takes
  // no share of alpha from the others.
  const tested = raws.filter((r) => r.pValue !== null && hasEnough(r, options.minSamples));
  const adjusted = holm(tested.map((r) => r.pValue as number));
  const adjustedOf = new Map(tested.map((r, i) => [r, adjusted[i] as number]));
  const comparisons = raws.map((r): MetricComparison => {
    const adjustedP = adjustedOf.get(r) ?? null;
    return {
      ...r,
      adjustedP,
      verdict:
        adjustedP === null || r.difference === null
          ? 'no difference yet'
          : verdict({
              difference: r.difference,
              adjustedP,
              // Units are checked with the samples: below either, not in the family, no verdict.
              samples: hasEnough(r, options.minSamples) ? r.samples : [0, 0],
              minSamples: options.minSamples,
              alpha: options.alpha,
              better: GOOD_DIRECTION[r.metric],
            }),
    };
  });
  const weights = [
    ALL_TRAFFIC_BP - definition.variants.reduce((n, v) => n + v.weight_bp, 0),
    ...definition.variants.map((v) => v.weight_bp),
  ];
  const byUnits = definition.key !== 'request';
  const armObservations = [control, ...variants.map((alias) => byArm.get(alias) ?? [])];
  const observed = armObservations.map((obs) =>
    byUnits ? new Set(obs.map((o) => o.unit)).size : obs.length,
  );
  return {
    experiment: definition.id,
    control: definition.control,
    observations: observations.length,
    sampleRatio: {
      observed,
      weights,
      counted: byUnits ? 'units' : 'requests',
      pValue: sampleRatioSkipped === undefined ? sampleRatioPValue(observed, weights) : null,
      skipped: sampleRatioSkipped ?? null,
    },
    minSamples: options.minSamples,
    alpha: options.alpha,
    arms,
    comparisons,
  };
}
