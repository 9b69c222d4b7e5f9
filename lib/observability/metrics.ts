/**
 * Metrics: Powertools' Metrics (CloudWatch embedded metric format on stdout, so no API call from
 * the function), one instance per function at module scope, flushed once per invocation by the
 * handler wrapper (lib/runtime/handler.ts), with the cold-start metric. The core adds to a
 * `Metrics` port that takes only the names of lib/observability/metric-names.ts; each invocation
 * has its own, which sums what is added by name (one value per metric and invocation, so a
 * metric's sample count is its invocations) and hands the sums over at the end. Work that outlives its
 * invocation (a trace export past its budget) adds nothing to the next one: a closed port drops
 * what it is given.
 */
import type { GenericLogger } from '@aws-lambda-powertools/commons/types';
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { type LineSink, redirectOutput } from './console-sink';
import type { MetricName } from './metric-names';

export type Unit = 'Count' | 'Milliseconds' | 'Bytes';

export interface Metrics {
  add(name: MetricName, value: number, unit?: Unit): void;
  /** A metric with dimensions of its own beside the function's (verify's per prompt and alias). */
  addWith(dimensions: Readonly<Record<string, string>>, name: MetricName, value: number): void;
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

export interface InvocationMetrics extends Metrics {
  /** Hands the sums to Powertools for its next flush; what is added afterwards is dropped. */
  close(): void;
}

/** A port for one invocation over the function's Powertools instance. */
export function invocationMetrics(base: PowertoolsMetrics): InvocationMetrics {
  const sums = new Map<MetricName, { unit: Unit; value: number }>();
  const dimensioned: { dimensions: Readonly<Record<string, string>>; name: MetricName; value: number }[] = [];
  let open = true;
  return {
    add(name, value, unit = 'Count') {
      if (!open) return;
      const sum = sums.get(name);
      sums.set(name, { unit, value: (sum?.value ?? 0) + value });
    },
    addWith(dimensions, name, value) {
      if (open) dimensioned.push({ dimensions, name, value });
    },
    close() {
      if (!open) return;
      open = false;
      for (const [name, sum] of sums) base.addMetric(name, UNITS[sum.unit], sum.value);
      // Each its own EMF line (Powertools' single metric), with the function's dimensions too.
      for (const m of dimensioned)
        base.singleMetric().addDimensions(m.dimensions).addMetric(m.name, UNITS.Count, m.value);
    },
  };
}

/** Metrics nobody reads (the CLI's predictions). */
export const discardMetrics: Metrics = { add: () => {}, addWith: () => {} };
