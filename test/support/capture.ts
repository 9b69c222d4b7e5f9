/** Logs and metrics written to arrays instead of stdout, for assertions. */
import { createLogger, type Logger } from '../../lib/observability/logger';
import { createPowertoolsMetrics, type Metrics, metricsOver } from '../../lib/observability/metrics';

export interface Captured {
  readonly log: Logger;
  /** `flush` writes what was added, as the handler wrapper does at the end of an invocation. */
  readonly metrics: Metrics & { flush(): void };
  readonly lines: Record<string, unknown>[];
  /** Every metric value flushed so far, summed by name. */
  metricTotals(): Record<string, number>;
}

const sum = (value: unknown) =>
  Array.isArray(value) ? value.reduce((a: number, b) => a + Number(b), 0) : Number(value);

export function capture(functionName = 'test'): Captured {
  const lines: Record<string, unknown>[] = [];
  const write = (line: string) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
  };
  const log = createLogger({ service: 'promptops', level: 'DEBUG', write });
  const powertools = createPowertoolsMetrics({
    namespace: 'PromptOps',
    service: 'promptops',
    functionName,
    write,
  });
  return {
    log,
    metrics: { ...metricsOver(powertools), flush: () => void powertools.publishStoredMetrics() },
    lines,
    metricTotals() {
      const totals: Record<string, number> = {};
      for (const line of lines) {
        const aws = line._aws as { CloudWatchMetrics?: { Metrics: { Name: string }[] }[] } | undefined;
        for (const m of aws?.CloudWatchMetrics?.[0]?.Metrics ?? []) {
          totals[m.Name] = (totals[m.Name] ?? 0) + sum(line[m.Name]);
        }
      }
      return totals;
    },
  };
}
