/**
 * Metrics in CloudWatch's embedded metric format (EMF): one JSON line per flush on stdout, which
 * CloudWatch turns into metrics without any API call from the function. One namespace; every
 * metric carries the `service` and `function` dimensions.
 */
export type MetricUnit = 'Count' | 'Milliseconds' | 'Bytes';

export interface Metrics {
  add(name: string, value: number, unit?: MetricUnit): void;
  /** Writes what was added since the last flush (nothing if nothing was). */
  flush(): void;
}

export interface MetricsOptions {
  readonly namespace: string;
  readonly service: string;
  readonly functionName: string;
  readonly write?: ((line: string) => void) | undefined;
  readonly now?: (() => number) | undefined;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const now = options.now ?? Date.now;
  let pending = new Map<string, { unit: MetricUnit; value: number }>();

  return {
    add(name, value, unit = 'Count') {
      const current = pending.get(name);
      pending.set(name, { unit, value: (current?.value ?? 0) + value });
    },
    flush() {
      if (pending.size === 0) return;
      const values = Object.fromEntries([...pending].map(([name, m]) => [name, m.value]));
      const line = {
        _aws: {
          Timestamp: now(),
          CloudWatchMetrics: [
            {
              Namespace: options.namespace,
              Dimensions: [['service', 'function']],
              Metrics: [...pending].map(([name, m]) => ({ Name: name, Unit: m.unit })),
            },
          ],
        },
        service: options.service,
        function: options.functionName,
        ...values,
      };
      pending = new Map();
      write(`${JSON.stringify(line)}\n`);
    },
  };
}
