/**
 * Reading the intent classifier's answer. The classifier's prompt version carries a response
 * format (a JSON schema: `{domains, confidence, reasoning}`), sent to the model as the request's
 * JSON schema and checked here against the answer. A model may still answer something else; the
 * defined behaviour, never a crash:
 *
 * - the answer is not JSON, or does not match the schema, or names no known domain: the agent
 *   asks the domains the request has data for, or, with no data, all five (`fallback` says why);
 * - unknown domains among known ones are dropped (and listed in `ignored`).
 *
 * Both are recorded on the classifier's span.
 */
import * as z from 'zod';
import { BRIEFLY, zodIssues } from '../errors';
import type { JsonObject } from '../registry';
import { DOMAINS, type Domain, isDomain } from './domains';

export interface Classification {
  readonly domains: readonly Domain[];
  readonly confidence: number | undefined;
  readonly reasoning: string | undefined;
  /** Domains the model named that do not exist. */
  readonly ignored: readonly string[];
  /** Why the classifier's answer was not used as is (then `domains` is the fallback set). */
  readonly fallback: string | undefined;
}

/** The shape the agent needs, whatever the version's response format says besides. */
const answerSchema = z.looseObject({
  domains: z.array(z.string()),
  confidence: z.number().optional(),
  reasoning: z.string().optional(),
});

/** A model may wrap JSON in a Markdown fence despite being asked not to. */
function unfenced(text: string): string {
  const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/i.exec(text);
  return (fenced?.[1] ?? text).trim();
}

/** The response format as a schema the agent checks answers with, or why zod cannot read it. */
function readFormat(responseFormat: JsonObject): z.ZodType | Error {
  try {
    return z.fromJSONSchema(responseFormat as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function schemaProblem(responseFormat: JsonObject | undefined, value: unknown): string | undefined {
  if (responseFormat === undefined) return undefined;
  const schema = readFormat(responseFormat);
  // A format zod cannot read is not the answer's fault; the agent's own shape check still runs.
  if (schema instanceof Error) return undefined;
  const parsed = schema.safeParse(value);
  if (parsed.success) return undefined;
  return zodIssues(parsed.error, BRIEFLY).line;
}

/**
 * Why the agent cannot check the classifier's answers against this response format, or undefined
 * when it can: a format zod cannot read, or one without the `domains` list the agent reads.
 */
export function responseFormatProblem(responseFormat: JsonObject): string | undefined {
  const schema = readFormat(responseFormat);
  if (schema instanceof Error) return `it is not a JSON schema the agent can read (${schema.message})`;
  const properties = responseFormat.properties as Record<string, unknown> | undefined;
  const domains = typeof properties === 'object' && properties !== null ? properties.domains : undefined;
  const type =
    typeof domains === 'object' && domains !== null ? (domains as Record<string, unknown>).type : undefined;
  return type === 'array'
    ? undefined
    : 'it declares no `domains` array, which the agent reads the domains from';
}

export function fallbackDomains(dataDomains: readonly Domain[]): readonly Domain[] {
  return dataDomains.length > 0 ? dataDomains : DOMAINS;
}

export function parseClassification(
  content: string,
  responseFormat: JsonObject | undefined,
  dataDomains: readonly Domain[],
): Classification {
  const fallback = (reason: string, ignored: readonly string[] = []): Classification => ({
    domains: fallbackDomains(dataDomains),
    confidence: undefined,
    reasoning: undefined,
    ignored,
    fallback: reason,
  });
  let value: unknown;
  try {
    value = JSON.parse(unfenced(content));
  } catch {
    return fallback('the classifier did not answer with JSON');
  }
  const problem = schemaProblem(responseFormat, value);
  if (problem !== undefined)
    return fallback(`the classifier's answer does not match its response format (${problem})`);
  const parsed = answerSchema.safeParse(value);
  if (!parsed.success) return fallback("the classifier's answer has no list of domains");
  const named = parsed.data.domains.map((d) => d.trim().toLowerCase());
  const known = DOMAINS.filter((d) => named.includes(d));
  const ignored = named.filter((d) => !isDomain(d));
  if (known.length === 0) return fallback('the classifier named no known domain', ignored);
  return {
    domains: known,
    confidence: parsed.data.confidence,
    reasoning: parsed.data.reasoning,
    ignored,
    fallback: undefined,
  };
}
