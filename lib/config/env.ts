/**
 * Configuration from the environment, parsed once at cold start with a schema. A missing or
 * malformed variable fails the cold start with the variable's name and what was expected; the
 * value itself is not echoed (an operator may have pasted a secret into the wrong variable).
 */
import * as z from 'zod';
import { ConfigError, zodIssues } from '../errors';
import { DEFAULT_METRICS_NAMESPACE } from '../observability/metric-names';

/** The service name on logs and metrics unless `POWERTOOLS_SERVICE_NAME` says otherwise. */
const SERVICE = 'promptops';

/** An optional text variable: unset, empty or blank is undefined; otherwise trimmed. */
export const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const positiveInt = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed <= 0) {
        ctx.addIssue({ code: 'custom', message: 'expected a positive integer' });
        return z.NEVER;
      }
      return parsed;
    });

/** A variable that is no longer read: set, it fails the cold start naming its replacement. */
const renamedTo = (replacement: string) =>
  z
    .string()
    .optional()
    .refine((value) => value === undefined, { message: `renamed: set ${replacement} instead` })
    .transform(() => undefined);

/** What every function reads. Each function extends it with its own variables. */
export const commonEnvShape = {
  /** Secrets Manager id or ARN of the registry secret (see README, "The secret"). */
  PROMPTOPS_SECRET_ID: z.string().trim().min(1, 'expected the id or ARN of the registry secret'),
  /** How long a fetched secret is reused before it is fetched again. */
  PROMPTOPS_SECRET_TTL_MS: positiveInt(300_000),
  /** Per-request deadline for registry calls. */
  PROMPTOPS_HTTP_TIMEOUT_MS: positiveInt(10_000),
  PROMPT_CATALOG: optionalText,
  PROMPT_SCHEMA: optionalText,
  PROMPT_NAME_PREFIX: optionalText,
  // Powertools reads its own variables; they are checked here too, so a typo fails the cold start
  // with the variable's name instead of falling back to a default unnoticed.
  /** The `service` of every log line and metric. */
  POWERTOOLS_SERVICE_NAME: z.string().trim().min(1).default(SERVICE),
  /** CloudWatch namespace of the functions' metrics. */
  POWERTOOLS_METRICS_NAMESPACE: z.string().trim().min(1).default(DEFAULT_METRICS_NAMESPACE),
  POWERTOOLS_LOG_LEVEL: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'INFO' : v.trim().toUpperCase()))
    .pipe(z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'])),
  /** The share of invocations logged at DEBUG whatever the level (0 to 1). */
  POWERTOOLS_LOGGER_SAMPLE_RATE: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 0 : Number(v)))
    .pipe(z.number('expected a number from 0 to 1').min(0).max(1)),
  // Renamed to Powertools' own variables: refused rather than ignored, so an old setting is noticed.
  PROMPTOPS_LOG_LEVEL: renamedTo('POWERTOOLS_LOG_LEVEL'),
  PROMPTOPS_METRICS_NAMESPACE: renamedTo('POWERTOOLS_METRICS_NAMESPACE'),
};

export const commonEnvSchema = z.object(commonEnvShape);
export type CommonEnv = z.infer<typeof commonEnvSchema>;

/** What is wrong with a variable; `isSet`: whether it has a value at all (zod's issues do not say). */
function describe(issue: z.core.$ZodIssue, isSet: boolean): string {
  if (issue.code === 'invalid_type')
    return isSet ? `expected a ${issue.expected}` : `expected ${issue.expected} (it is not set)`;
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map(String).join(', ')}`;
  return issue.message;
}

/** A quoted piece of a value at least this long is the value's, wherever in the value it comes from. */
const MIN_QUOTED_PIECE = 4;
/** More quotes than this in one message: the value is not searched for, the message is cut. */
const MAX_QUOTES = 64;

/**
 * A message about a variable without its value: a secret put in the wrong variable (an API key
 * where an ARN pattern belongs) must not reach a log. Our checks quote what they refuse ('…'), so
 * a quoted text is replaced when it is the whole value, one of its parts (comma or space
 * separated, or a whole list item), or any piece of the value of at least 4 characters (the
 * version after `name=`). The fixed words of a message stay: unquoted ones (an enum's values,
 * "expected number") and short quoted ones ('_', '-').
 */
export function withoutValue(message: string, value: string | undefined): string {
  if (value === undefined || value === '') return message;
  const parts = new Set(
    [value, ...value.split(/[,\s]+/), ...value.split(',').map((p) => p.trim())].filter((p) => p !== ''),
  );
  const isValue = (quoted: string) =>
    quoted !== '' && (parts.has(quoted) || (quoted.length >= MIN_QUOTED_PIECE && value.includes(quoted)));
  // Any two quotes, not only neighbours: an apostrophe before the value ("the agent's") must not
  // pair with the quote that opens it.
  const quotes = [...message.matchAll(/'/g)].map((match) => match.index);
  // Bounded work: a value full of quotes is not shown at all.
  if (quotes.length > MAX_QUOTES) return `${message.slice(0, quotes[0])}(the value given, not shown)`;
  let out = '';
  let from = 0;
  for (let i = 0; i < quotes.length; i += 1) {
    const open = quotes[i] as number;
    for (let j = i + 1; j < quotes.length; j += 1) {
      const close = quotes[j] as number;
      // Longer than the value: no later quote closes a piece of it.
      if (close - open - 1 > value.length) break;
      if (!isValue(message.slice(open + 1, close))) continue;
      out += `${message.slice(from, open)}'(the value given)'`;
      from = close + 1;
      i = j;
      break;
    }
  }
  return out + message.slice(from);
}

/** Parses `env` with `schema`; throws ConfigError naming every bad variable, never its value. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const { issues, line } = zodIssues(parsed.error, {
    describe: (issue) => {
      const variable = issue.path[0];
      const given = typeof variable === 'string' ? env[variable] : undefined;
      return withoutValue(describe(issue, given !== undefined), given);
    },
  });
  throw new ConfigError(`Invalid configuration: ${line}`, { issues });
}
