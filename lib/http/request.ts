/** Requests read through schemas: one parser for every API's bodies and queries. */
import type * as z from 'zod';
import { InvalidInputError, zodIssues } from '../errors';

/**
 * `value` as `schema` accepts it, or an InvalidInputError naming each refused field (`what` says
 * which input: the body, the query).
 */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const { issues, line } = zodIssues(parsed.error, {
    describe: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
  });
  throw new InvalidInputError(`Invalid ${what}: ${line}`, { issues });
}

/** A validator that throws (as lib/prompts/names does), as a zod refinement: its message becomes the issue. */
export function checked(check: (value: string) => unknown) {
  return (value: string, ctx: z.RefinementCtx) => {
    try {
      check(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    }
  };
}

/** The parts of an API Gateway HTTP API (payload 2.0) event our functions read. */
export interface HttpApiEvent {
  readonly routeKey?: string;
  readonly pathParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
}

/** A body larger than this is refused before it is parsed. */
export const MAX_BODY_CHARS = 256 * 1024;

/** The event's JSON body (`{}` when there is none), or a 400 saying why not. */
export function jsonBody(event: HttpApiEvent, maxChars = MAX_BODY_CHARS): unknown {
  if (event.body === undefined || event.body === null || event.body === '') return {};
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (text.length > maxChars) {
    throw new InvalidInputError(`The request body is larger than ${maxChars} characters.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidInputError('The request body is not valid JSON.');
  }
}
