/**
 * Logging: Powertools' Logger (structured JSON, `cold_start`, function name and version, request
 * id, X-Ray trace id, `POWERTOOLS_LOG_LEVEL`, debug sampling with `POWERTOOLS_LOGGER_SAMPLE_RATE`)
 * with our redacting formatter. The core takes a `Logger`, a small port with `child(fields)`, so
 * what a request adds (route, principal, prompt) rides on its lines without state on the
 * module-scope instance that the next invocation would inherit.
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { type LineSink, redirectOutput } from './console-sink';
import { RedactingLogFormatter } from './log-formatter';

export { REDACTED } from './log-formatter';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields` (e.g. the principal of one request). */
  child(fields: LogFields): Logger;
}

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT';

export interface LoggerOptions {
  readonly service: string;
  /** Unset: Powertools reads `POWERTOOLS_LOG_LEVEL` (and Lambda's `AWS_LAMBDA_LOG_LEVEL`). */
  readonly level?: LogLevel | undefined;
  /** The share of invocations logged at DEBUG (unset: `POWERTOOLS_LOGGER_SAMPLE_RATE`). */
  readonly sampleRate?: number | undefined;
  /** Unset: stdout, as Lambda expects. */
  readonly write?: LineSink | undefined;
}

export function createPowertoolsLogger(options: LoggerOptions): PowertoolsLogger {
  const logger = new PowertoolsLogger({
    serviceName: options.service,
    logFormatter: new RedactingLogFormatter(),
    ...(options.level ? { logLevel: options.level } : {}),
    ...(options.sampleRate !== undefined ? { sampleRateValue: options.sampleRate } : {}),
  });
  return redirectOutput(logger, options.write);
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/** The port over a Powertools logger: every line carries `fields` as well. */
export function loggerOver(base: PowertoolsLogger, fields: LogFields = {}): Logger {
  const at =
    (level: Level) =>
    (message: string, extra: LogFields = {}) =>
      base[level](message, { ...fields, ...extra });
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => loggerOver(base, { ...fields, ...more }),
  };
}

/** A port over a fresh Powertools logger: for code that runs outside a function (the CLI, tests). */
export function createLogger(options: LoggerOptions, fields: LogFields = {}): Logger {
  // No sampling unless asked: a sampled logger announces itself on stdout while it is built,
  // before its output can be pointed elsewhere (the CLI's stdout is its answer).
  return loggerOver(createPowertoolsLogger({ sampleRate: 0, ...options }), fields);
}
