/**
 * An experiment's report, from the traces MLflow holds: per arm, what its requests saw (errors,
 * fallbacks, latency, tokens, feedback), and per variant and metric the difference to control,
 * its confidence interval and a verdict. Pure: the traces come in (read.ts pages them from MLflow).
 *
 * - Rates (error, fallback, positive feedback): two-proportion z-test, Wald interval.
 * - Latency p50/p95 and mean tokens: percentile bootstrap (seeded: the same traces give the same
 *   interval), with its two-sided p-value from the same resamples.
 * - Every comparison of the report is one family: Holm's correction keeps the chance of any false
 *   "better" or "worse" at alpha.
 * - No verdict for a metric while either arm has fewer than `minSamples` observations of it.
 */
import type { TraceSummary } from '../registry/tracking';
import type { ExperimentDefinition } from './definition';
import { ARM_TAGS } from './serve';
import { bootstrapDifference, compareProportions, holm, quantile, type Verdict, verdict } from './statistics';

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
export function observe(trace: TraceSummary, key: string, latency: LatencySource): Observation | undefined {
  const arm = trace.tags[ARM_TAGS.arm(key)];
  if (arm === undefined) return undefined;
  const modelMs = Number(trace.tags[MODEL_MS_TAG]);
  return {
    arm,
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
  /** The difference relative to control's value (rates and quantiles alike), when control's is not 0. */
  readonly relative: number | null;
  readonly pValue: number | null;
  /** After Holm's correction across every comparison in the report. */
  readonly adjustedP: number | null;
  readonly samples: readonly [number, number];
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

export interface ExperimentReport {
  readonly experiment: string;
  readonly control: string;
  readonly observations: number;
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

const numbers = (values: readonly (number | undefined)[]) =>
  values.filter((v): v is number => v !== undefined && Number.isFinite(v));
const mean = (sorted: readonly number[]) =>
  sorted.length === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length;
const orNull = (n: number) => (Number.isFinite(n) ? n : null);

function summarise(alias: string, role: ArmSummary['role'], obs: readonly Observation[]): ArmSummary {
  const n = obs.length;
  const latency = numbers(obs.map((o) => o.latencyMs)).sort((a, b) => a - b);
  const tokens = numbers(obs.map((o) => o.tokens));
  const judged = obs.filter((o) => o.positive !== undefined);
  return {
    alias,
    role,
    requests: n,
    errorRate: n === 0 ? null : obs.filter((o) => o.error).length / n,
    fallbackRate: n === 0 ? null : obs.filter((o) => o.fallback).length / n,
    latencyP50Ms: orNull(quantile(latency, 0.5)),
    latencyP95Ms: orNull(quantile(latency, 0.95)),
    meanTokens: orNull(mean(tokens)),
    feedback: judged.length,
    positiveRate: judged.length === 0 ? null : judged.filter((o) => o.positive).length / judged.length,
  };
}

interface Raw {
  variant: string;
  metric: ReportMetric;
  control: number | null;
  difference: number | null;
  low: number | null;
  high: number | null;
  relative: number | null;
  pValue: number | null;
  samples: [number, number];
}

const empty = (variant: string, metric: ReportMetric, samples: [number, number]): Raw => ({
  variant,
  metric,
  control: null,
  difference: null,
  low: null,
  high: null,
  relative: null,
  pValue: null,
  samples,
});

function rate(
  metric: ReportMetric,
  variant: string,
  control: readonly boolean[],
  candidate: readonly boolean[],
  alpha: number,
): Raw {
  const samples: [number, number] = [control.length, candidate.length];
  if (control.length === 0 || candidate.length === 0) return empty(variant, metric, samples);
  const x1 = control.filter(Boolean).length;
  const c = compareProportions(x1, control.length, candidate.filter(Boolean).length, candidate.length, alpha);
  const base = x1 / control.length;
  return { variant, metric, control: base, ...c, relative: base === 0 ? null : c.difference / base, samples };
}

function continuous(
  metric: ReportMetric,
  variant: string,
  control: readonly number[],
  candidate: readonly number[],
  statistic: (sorted: readonly number[]) => number,
  options: ReportOptions,
): Raw {
  const samples: [number, number] = [control.length, candidate.length];
  if (control.length === 0 || candidate.length === 0) return empty(variant, metric, samples);
  // Sorted first: the resamples then depend on the values alone, not on the order MLflow listed them.
  const byValue = (values: readonly number[]) => [...values].sort((x, y) => x - y);
  const b = bootstrapDifference(byValue(control), byValue(candidate), statistic, {
    rounds: options.rounds,
    seed: options.seed,
    alpha: options.alpha,
  });
  const base = statistic([...control].sort((x, y) => x - y));
  return { variant, metric, control: base, ...b, relative: base === 0 ? null : b.difference / base, samples };
}

/** The report of `definition`'s experiment from the traces' observations. */
export function buildReport(
  definition: ExperimentDefinition,
  observations: readonly Observation[],
  options: ReportOptions = DEFAULT_REPORT_OPTIONS,
): ExperimentReport {
  const byArm = new Map<string, Observation[]>();
  for (const o of observations) byArm.set(o.arm, [...(byArm.get(o.arm) ?? []), o]);
  const control = byArm.get(definition.control) ?? [];
  const variants = definition.variants.map((v) => v.alias);
  const arms = [
    summarise(definition.control, 'control', control),
    ...variants.map((alias) => summarise(alias, 'variant', byArm.get(alias) ?? [])),
  ];
  const raws: Raw[] = [];
  for (const alias of variants) {
    const arm = byArm.get(alias) ?? [];
    const latency = (obs: readonly Observation[]) => numbers(obs.map((o) => o.latencyMs));
    const tokens = (obs: readonly Observation[]) => numbers(obs.map((o) => o.tokens));
    const judged = (obs: readonly Observation[]) =>
      obs.flatMap((o) => (o.positive === undefined ? [] : [o.positive]));
    raws.push(
      rate(
        'error_rate',
        alias,
        control.map((o) => o.error),
        arm.map((o) => o.error),
        options.alpha,
      ),
      rate(
        'fallback_rate',
        alias,
        control.map((o) => o.fallback),
        arm.map((o) => o.fallback),
        options.alpha,
      ),
      continuous('p50_latency', alias, latency(control), latency(arm), (s) => quantile(s, 0.5), options),
      continuous('p95_latency', alias, latency(control), latency(arm), (s) => quantile(s, 0.95), options),
      continuous('mean_tokens', alias, tokens(control), tokens(arm), mean, options),
      rate('feedback', alias, judged(control), judged(arm), options.alpha),
    );
  }
  // The family is the comparisons that can reach a verdict: one without enough samples yet takes
  // no share of alpha from the others.
  const tested = raws.filter(
    (r) => r.pValue !== null && r.samples[0] >= options.minSamples && r.samples[1] >= options.minSamples,
  );
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
              samples: r.samples,
              minSamples: options.minSamples,
              alpha: options.alpha,
              better: GOOD_DIRECTION[r.metric],
            }),
    };
  });
  return {
    experiment: definition.id,
    control: definition.control,
    observations: observations.length,
    minSamples: options.minSamples,
    alpha: options.alpha,
    arms,
    comparisons,
  };
}
