/**
 * Errors as HTTP responses for the API functions: RFC 9457 problem details
 * (`application/problem+json`). The status and what is shown come from the error catalog: 4xx
 * answers say what is wrong; 5xx answers are generic and carry only the request id, the details
 * going to the log.
 */

import {
  answerFor,
  type ErrorCode,
  type FieldIssue,
  type FixedAnswer,
  PromptOpsError,
  UNKNOWN_FAILURE_ANSWER,
} from '../errors';
import { withoutOperation } from '../errors/without-operation';

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ErrorCode;
  readonly requestId?: string;
  /** The MLflow trace of the failed request, when it had one (predict). */
  readonly traceId?: string;
  readonly errors?: readonly FieldIssue[];
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A fixed answer: the catalog's code and detail, and no field issues. */
const fixed = ({ status, shows }: FixedAnswer) => ({ status, ...shows, issues: [] });

/** What a caller is shown of `error`, as the catalog says; anything not ours is an internal error. */
function shownOf(
  error: unknown,
): Pick<ProblemBody, 'status' | 'code' | 'detail'> & { issues: readonly FieldIssue[] } {
  if (!(error instanceof PromptOpsError)) return fixed(UNKNOWN_FAILURE_ANSWER);
  const answer = answerFor(error.code, error.registry !== undefined);
  if (answer.shows !== 'message') return fixed(answer);
  // A registry's refusal passed on (a version not found) reads without the client's operation name.
  const detail = error.registry === undefined ? error.message : withoutOperation(error.message);
  return { status: answer.status, code: error.code, detail, issues: error.issues };
}

export function statusFor(error: unknown): number {
  return shownOf(error).status;
}

export function problemFor(error: unknown, requestId?: string, traceId?: string): ProblemBody {
  const { status, code, detail, issues } = shownOf(error);
  return {
    type: `urn:promptops:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(requestId ? { requestId } : {}),
    ...(traceId ? { traceId } : {}),
    ...(issues.length > 0 ? { errors: issues } : {}),
  };
}

export function problemResponse(error: unknown, requestId?: string, traceId?: string): HttpResponse {
  const body = problemFor(error, requestId, traceId);
  // A wait is only advice for what may be retried: the retryable errors (503, 429, 409 in progress).
  const retryAfterMs = error instanceof PromptOpsError && error.retryable ? error.retryAfterMs : undefined;
  const retryAfter =
    retryAfterMs !== undefined ? { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) } : {};
  return {
    statusCode: body.status,
    headers: { 'content-type': 'application/problem+json', ...retryAfter },
    body: JSON.stringify(body),
  };
}
