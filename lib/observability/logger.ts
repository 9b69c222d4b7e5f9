/**
 * Structured JSON logs, one object per line on stdout (CloudWatch Logs keeps each line as one
 * event and Logs Insights parses the JSON). Every line carries the service, the function and the
 * request id of the invocation being served; callers add the prompt names involved.
 *
 * Defence in depth: keys that name a credential are redacted wherever they appear, and error
 * objects are reduced to name, code and message (their causes may quote a request).
 */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
const ORDER: Readonly<Record<LogLevel, number>> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 };

const SENSITIVE_KEY = /token|password|secret|authorization|api[-_]?key|credential/i;
export const REDACTED = '[redacted]';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields` (e.g. the request id of one invocation). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  readonly service: string;
  readonly level?: LogLevel | undefined;
  readonly write?: ((line: string) => void) | undefined;
  readonly now?: (() => Date) | undefined;
}

function describeError(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { name: error.name, ...(typeof code === 'string' ? { code } : {}), message: error.message };
}

/** Copies `value` for logging: credential-named keys redacted, errors summarised, depth bounded. */
export function sanitise(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return describeError(value);
  if (depth > 6) return '[truncated]';
  if (Array.isArray(value)) return value.map((v) => sanitise(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SENSITIVE_KEY.test(k) ? REDACTED : sanitise(v, depth + 1)]),
    );
  }
  return value;
}

export function createLogger(options: LoggerOptions, context: LogFields = {}): Logger {
  const threshold = ORDER[options.level ?? 'INFO'];
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const now = options.now ?? (() => new Date());

  const log =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}) => {
      if (ORDER[level] < threshold) return;
      const entry = sanitise({
        level,
        message,
        timestamp: now().toISOString(),
        service: options.service,
        ...context,
        ...fields,
      });
      write(`${JSON.stringify(entry)}\n`);
    };

  return {
    debug: log('DEBUG'),
    info: log('INFO'),
    warn: log('WARN'),
    error: log('ERROR'),
    child: (fields) => createLogger(options, { ...context, ...fields }),
  };
}
