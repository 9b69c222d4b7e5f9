/**
 * Metrics: Powertools' Metrics (CloudWatch embedded metric format on stdout, so no API call from
 * the function), one instance per function at module scope, flushed once per invocation by the
 * handler wrapper (lib/runtime/handler.ts), with the cold-start metric. The core adds to a
 * `Metrics` port that takes only the names of lib/observability/metric-names.ts.
 */
import type { GenericLogger } from '@aws-lambda-powertools/commons/types';
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { type LineSink, redirectOutput } from './console-sink';
import type { MetricName } from './metric-names';

export type Unit = 'Count' | 'Milliseconds' | 'Bytes';

export interface Metrics {
  add(name: MetricName, value: number, unit?: Unit): void;
}

const UNITS: Readonly<Record<Unit, (typeof MetricUnit)[keyof typeof MetricUnit]>> = {
  Count: MetricUnit.Count,
  Milliseconds: MetricUnit.Milliseconds,
  Bytes: MetricUnit.Bytes,
};

export interface MetricsOptions {
  /** Where Powertools' own warnings go (a metric CloudWatch would skip, say): our JSON log. */
  readonly logger?: { warn(message: string): void } | undefined;
  readonly namespace: string;
  readonly service: string;
  readonly functionName: string;
  /** Unset: stdout, where Lambda's log stream carries the EMF lines to CloudWatch. */
  readonly write?: LineSink | undefined;
}

export function createPowertoolsMetrics(options: MetricsOptions): PowertoolsMetrics {
  const metrics = new PowertoolsMetrics({
    namespace: options.namespace,
    serviceName: options.service,
    defaultDimensions: { function: options.functionName },
    ...(options.logger ? { logger: options.logger as GenericLogger } : {}),
  });
  return redirectOutput(metrics, options.write);
}

/** The port over a Powertools instance; what is added is written at its next flush. */
export function metricsOver(base: PowertoolsMetrics): Metrics {
  return { add: (name, value, unit = 'Count') => void base.addMetric(name, UNITS[unit], value) };
}

/** Metrics nobody reads (the CLI's predictions). */
export const discardMetrics: Metrics = { add: () => {} };
