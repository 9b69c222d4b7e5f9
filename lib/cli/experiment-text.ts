/**
 * An experiment's report and history for people: one table of the arms, then per variant one
 * table of the comparisons with their intervals and verdicts, then what the figures rest on.
 */

import type { ExperimentDefinition } from '../experiments/definition';
import { formatGuard } from '../experiments/guards';
import type { ExperimentRecord } from '../experiments/history';
import {
  type ExperimentReport,
  type MetricComparison,
  type ReportMetric,
  SAMPLE_RATIO_ALPHA,
} from '../experiments/report';
import { formatTable } from './summary';

const RATES: ReadonlySet<ReportMetric> = new Set(['error_rate', 'fallback_rate', 'feedback']);
const UNIT: Readonly<Record<ReportMetric, string>> = {
  error_rate: 'pp',
  fallback_rate: 'pp',
  feedback: 'pp',
  p50_latency: 'ms',
  p95_latency: 'ms',
  mean_tokens: 'tokens',
};

const percent = (rate: number | null) => (rate === null ? '-' : `${(rate * 100).toFixed(1)}%`);
const whole = (n: number | null) => (n === null ? '-' : String(Math.round(n)));
const signed = (n: number, digits: number) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;

function inUnit(c: MetricComparison, n: number): string {
  return RATES.has(c.metric) ? signed(n * 100, 1) : signed(n, 0);
}

function comparisonRow(c: MetricComparison): string[] {
  if (c.difference === null || c.low === null || c.high === null) {
    return [c.metric, '-', '-', '-', `${c.samples[0]}/${c.samples[1]}`, c.verdict];
  }
  const relative = !RATES.has(c.metric) && c.relative !== null ? ` (${signed(c.relative * 100, 0)}%)` : '';
  return [
    c.metric,
    `${inUnit(c, c.difference)} ${UNIT[c.metric]}${relative}`,
    `[${inUnit(c, c.low)}, ${inUnit(c, c.high)}]`,
    c.adjustedP === null ? '-' : c.adjustedP < 0.001 ? '<0.001' : c.adjustedP.toFixed(3),
    `${c.samples[0]}/${c.samples[1]}`,
    c.verdict,
  ];
}

export function describeDefinition(e: ExperimentDefinition): string {
  const split = e.variants
    .map((v) => `${v.alias} ${(v.weight_bp / 100).toFixed(2).replace(/\.?0+$/, '')}%`)
    .join(', ');
  const lines = [
    `experiment ${e.id} (revision ${e.revision}, ${e.status}): control ${e.control}, variants ${split}, by ${e.key}`,
    `started ${e.started_at}${e.ends_at ? `, ends ${e.ends_at}` : ''}`,
  ];
  if (e.guardrails?.length) lines.push(`guardrails: ${e.guardrails.map(formatGuard).join(', ')}`);
  if (e.rollout)
    lines.push(
      `rollout: ${e.rollout.steps.map((s, i) => (i === e.rollout?.step ? `[${s}%]` : `${s}%`)).join(' → ')}`,
    );
  return lines.join('\n');
}

export function describeHistory(history: readonly ExperimentRecord[]): string {
  if (history.length === 0) return 'no history';
  return formatTable(
    ['at', 'action', 'experiment', 'split', 'by', 'reason'],
    history.map((h) => [
      h.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      h.action,
      `${h.id}#${h.revision}`,
      Object.entries(h.weights)
        .map(([alias, bp]) => `${alias} ${bp / 100}%`)
        .join(', '),
      h.by,
      (h.reason ?? '-').replace(/\s+/g, ' ').slice(0, 80),
    ]),
  );
}

export function describeReport(
  report: ExperimentReport,
  read: { traces: number; truncated: boolean; scope: string; latency: string },
): string {
  const arms = formatTable(
    ['arm', 'role', 'requests', 'errors', 'fallbacks', 'p50 ms', 'p95 ms', 'tokens', 'feedback', 'positive'],
    report.arms.map((a) => [
      a.alias,
      a.role,
      String(a.requests),
      percent(a.errorRate),
      percent(a.fallbackRate),
      whole(a.latencyP50Ms),
      whole(a.latencyP95Ms),
      whole(a.meanTokens),
      String(a.feedback),
      percent(a.positiveRate),
    ]),
  );
  const parts = [
    `${report.experiment}: ${read.traces} traces (${read.scope})${read.truncated ? ', TRUNCATED: more traces than read' : ''}`,
    arms,
  ];
  for (const variant of new Set(report.comparisons.map((c) => c.variant))) {
    parts.push(
      `${variant} vs ${report.control}:\n${formatTable(
        [
          'metric',
          'difference',
          `${Math.round((1 - report.alpha) * 100)}% interval (unadjusted)`,
          'p (Holm)',
          'n',
          'verdict',
        ],
        report.comparisons.filter((c) => c.variant === variant).map(comparisonRow),
      )}`,
    );
  }
  const ratio = report.sampleRatio;
  if (ratio.pValue !== null && ratio.pValue < SAMPLE_RATIO_ALPHA) {
    parts.push(
      `SAMPLE RATIO MISMATCH: the arms hold ${ratio.observed.join('/')} ${ratio.counted} against a split of ` +
        `${ratio.weights.map((w) => `${w / 100}%`).join('/')} (p=${ratio.pValue.toExponential(1)}): ` +
        'assignment or traces are broken, and the comparisons above cannot be trusted.',
    );
  }
  parts.push(
    `Verdicts need ${report.minSamples} observations per arm and a Holm-adjusted p below ${report.alpha} ` +
      `(family-wise, across the comparisons that have them). Rates: two-proportion z-test with Newcombe's ` +
      `interval (cluster-robust when a user made several requests). Latency (${read.latency}) and tokens: ` +
      'seeded bootstrap, resampling users or sessions when assignment is by them.',
  );
  return `${parts.join('\n\n')}\n`;
}
