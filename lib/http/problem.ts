/**
 * The one mapping from errors to HTTP responses for the API functions: RFC 9457 problem details
 * (`application/problem+json`). 4xx answers say what is wrong; 5xx answers are generic and carry
 * only the request id, the details going to the log. A failure of the registry (our upstream) is
 * never presented as the caller's fault: the registry refusing *our* credentials is a 502, not a
 * 401 for the caller.
 */
import { type ErrorCode, type FieldIssue, PromptOpsError } from '../errors';

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ErrorCode | 'INTERNAL';
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

const CALLER_STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_INPUT: 400,
  INVALID_PROMPT_FILE: 400,
  MISSING_VARIABLES: 422,
  TEMPLATE_UNSUPPORTED: 422,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  MOVE_IN_PROGRESS: 409,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

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

/**
 * Server-side failures whose code the caller may act on (retry later, ask less), each with a
 * fixed, generic detail: what went wrong upstream stays in the log.
 */
const NAMED_SERVER_FAILURES: Partial<Record<ErrorCode, { status: number; detail: string }>> = {
  MODEL_FAILED: { status: 502, detail: 'The model endpoint failed to answer; try again shortly.' },
  DEADLINE_EXCEEDED: { status: 504, detail: 'The request did not finish within its time limit.' },
};

/** Upstream failures whose details are ours to log, not the caller's to read. */
const UPSTREAM_GENERIC = new Set<ErrorCode>([
  'UNAUTHORIZED',
  'FORBIDDEN',
  'MALFORMED_RESPONSE',
  'UNSUPPORTED',
  'INTERNAL',
]);

export function statusFor(error: unknown): number {
  if (!(error instanceof PromptOpsError)) return 500;
  const named = NAMED_SERVER_FAILURES[error.code];
  if (named) return named.status;
  if (error.registry !== undefined && UPSTREAM_GENERIC.has(error.code)) return 502;
  // The registry throttling us is the registry being unavailable, not the caller sending too much.
  if (error.registry !== undefined && error.code === 'RATE_LIMITED') return 503;
  return CALLER_STATUS[error.code] ?? 500;
}

export function problemFor(error: unknown, requestId?: string, traceId?: string): ProblemBody {
  const status = statusFor(error);
  const known = error instanceof PromptOpsError;
  const exposed = known && status < 500;
  const named = known ? NAMED_SERVER_FAILURES[error.code] : undefined;
  const code: ProblemBody['code'] =
    exposed || named ? (error as PromptOpsError).code : status === 503 ? 'UNAVAILABLE' : 'INTERNAL';
  const detail = exposed
    ? error.message
    : (named?.detail ??
      (status === 503
        ? 'The prompt registry is unavailable; try again shortly.'
        : 'An internal error occurred; it has been logged.'));
  return {
    type: `urn:promptops:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(requestId ? { requestId } : {}),
    ...(traceId ? { traceId } : {}),
    ...(exposed && error.issues.length > 0 ? { errors: error.issues } : {}),
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
