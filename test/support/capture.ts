/** Logs and metrics written to arrays instead of stdout, for assertions. */
import { createLogger, type Logger } from '../../lib/observability/logger';
import { createMetrics, type Metrics } from '../../lib/observability/metrics';

export interface Captured {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly lines: Record<string, unknown>[];
  /** Every metric value flushed so far, summed by name. */
  metricTotals(): Record<string, number>;
}

export function capture(functionName = 'test'): Captured {
  const lines: Record<string, unknown>[] = [];
  const write = (line: string) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
  };
  const log = createLogger({ service: 'promptops', level: 'DEBUG', write });
  const metrics = createMetrics({ namespace: 'PromptOps', service: 'promptops', functionName, write });
  return {
    log,
    metrics,
    lines,
    metricTotals() {
      const totals: Record<string, number> = {};
      for (const line of lines) {
        const aws = line._aws as { CloudWatchMetrics?: { Metrics: { Name: string }[] }[] } | undefined;
        for (const m of aws?.CloudWatchMetrics?.[0]?.Metrics ?? []) {
          totals[m.Name] = (totals[m.Name] ?? 0) + Number(line[m.Name]);
        }
      }
      return totals;
    },
  };
}
