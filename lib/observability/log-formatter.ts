/**
 * Powertools' JSON log format with the project's defence in depth on top: keys that name a
 * credential are redacted wherever they appear, and errors are reduced to name, code and message
 * (their stacks and causes may quote a request or a header). Powertools itself redacts nothing.
 */
import { LogFormatter, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';

const SENSITIVE_KEY = /token|password|secret|authorization|api[-_]?key|credential/i;
export const REDACTED = '[redacted]';

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

export class RedactingLogFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    const base = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: context?.coldStart,
      function_name: context?.functionName,
      function_version: context?.functionVersion,
      function_request_id: context?.awsRequestId,
      xray_trace_id: attributes.xRayTraceId,
      sampling_rate: attributes.sampleRateValue,
    };
    return new LogItem({ attributes: sanitise({ ...base, ...additional }) as LogAttributes });
  }

  override formatError(error: Error): LogAttributes {
    return describeError(error);
  }
}
