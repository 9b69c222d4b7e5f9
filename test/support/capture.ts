/** Logs and metrics written to arrays instead of stdout, for assertions. */
import { createLogger, type Logger } from '../../lib/observability/logger';
import { createPowertoolsMetrics, invocationMetrics, type Metrics } from '../../lib/observability/metrics';

export interface Captured {
  readonly log: Logger;
  /** `flush` ends an invocation as the handler wrapper does: what was added is written. */
  readonly metrics: Metrics & { flush(): void };
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
  const powertools = createPowertoolsMetrics({
    namespace: 'PromptOps',
    service: 'promptops',
    functionName,
    write,
  });
  let current = invocationMetrics(powertools);
  return {
    log,
    metrics: {
      add: (name, value, unit) => current.add(name, value, unit),
      addWith: (dimensions, name, value) => current.addWith(dimensions, name, value),
      flush() {
        current.close();
        if (powertools.hasStoredMetrics()) powertools.publishStoredMetrics();
        current = invocationMetrics(powertools);
      },
    },
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
