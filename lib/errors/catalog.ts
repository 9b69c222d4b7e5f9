/**
 * The error catalog: every code the project raises and how it is answered. Handlers, the API
 * client and the registry adapter read status, retryability and what a caller is shown from here.
 */

export type ErrorCode =
  | 'INVALID_INPUT'
  | 'MISSING_VARIABLES'
  | 'TEMPLATE_UNSUPPORTED'
  | 'INVALID_PROMPT_FILE'
  | 'INVALID_CONFIG'
  | 'INVALID_SECRET'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'MOVE_IN_PROGRESS'
  | 'AUDIT_INCOMPLETE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'UNSUPPORTED'
  | 'MALFORMED_RESPONSE'
  | 'MODEL_FAILED'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL';

/**
 * What a caller of the API functions is told. A 4xx is about the caller's request, so the error's
 * own message (and its field issues) is shown; a 5xx shows only a fixed code and detail, what went
 * wrong staying in the log.
 */
export type Answer = { readonly status: number; readonly shows: 'message' } | FixedAnswer;

export interface FixedAnswer {
  readonly status: number;
  readonly shows: { readonly code: ErrorCode; readonly detail: string };
}

export interface ErrorSpec {
  /** Whether repeating the same call later may succeed. */
  readonly retryable: boolean;
  readonly answer: Answer;
  /**
   * The answer when the registry (our upstream) failed so: never the caller's fault. The registry
   * refusing *our* credentials is a 502, not a 401 for the caller.
   */
  readonly fromRegistry?: Answer;
  /** A refusal that carries only its status (API Gateway's own, a code unknown here) means this code. */
  readonly meansStatus?: true;
}

const message = (status: number): Answer => ({ status, shows: 'message' });
const fixed = (status: number, code: ErrorCode, detail: string): FixedAnswer => ({
  status,
  shows: { code, detail },
});
const internal = (status: number) =>
  fixed(status, 'INTERNAL', 'An internal error occurred; it has been logged.');
const registryDown = fixed(503, 'UNAVAILABLE', 'The prompt registry is unavailable; try again shortly.');

export const ERRORS: { readonly [C in ErrorCode]: ErrorSpec } = {
  INVALID_INPUT: { retryable: false, answer: message(400) },
  MISSING_VARIABLES: { retryable: false, answer: message(422) },
  TEMPLATE_UNSUPPORTED: { retryable: false, answer: message(422) },
  INVALID_PROMPT_FILE: { retryable: false, answer: message(400) },
  INVALID_CONFIG: { retryable: false, answer: internal(500) },
  INVALID_SECRET: { retryable: false, answer: internal(500) },
  NOT_FOUND: { retryable: false, answer: message(404), meansStatus: true },
  ALREADY_EXISTS: { retryable: false, answer: message(409) },
  CONFLICT: { retryable: false, answer: message(409), meansStatus: true },
  MOVE_IN_PROGRESS: { retryable: true, answer: message(409) },
  AUDIT_INCOMPLETE: { retryable: false, answer: internal(500) },
  UNAUTHORIZED: { retryable: false, answer: message(401), fromRegistry: internal(502), meansStatus: true },
  FORBIDDEN: { retryable: false, answer: message(403), fromRegistry: internal(502), meansStatus: true },
  // The registry throttling us is the registry being unavailable, not the caller sending too much.
  RATE_LIMITED: { retryable: true, answer: message(429), fromRegistry: registryDown, meansStatus: true },
  UNAVAILABLE: { retryable: true, answer: registryDown, meansStatus: true },
  UNSUPPORTED: { retryable: false, answer: internal(500), fromRegistry: internal(502) },
  MALFORMED_RESPONSE: { retryable: false, answer: internal(500), fromRegistry: internal(502) },
  // Server-side failures whose code the caller may act on (retry later, ask less).
  MODEL_FAILED: {
    retryable: false,
    answer: fixed(502, 'MODEL_FAILED', 'The model endpoint failed to answer; try again shortly.'),
  },
  DEADLINE_EXCEEDED: {
    retryable: false,
    answer: fixed(504, 'DEADLINE_EXCEEDED', 'The request did not finish within its time limit.'),
    meansStatus: true,
  },
  INTERNAL: { retryable: false, answer: internal(500), fromRegistry: internal(502) },
};

/** How a failure with `code` is answered; `fromRegistry` when the registry failed so. */
export function answerFor(code: ErrorCode, fromRegistry: boolean): Answer {
  const spec = ERRORS[code];
  return (fromRegistry ? spec.fromRegistry : undefined) ?? spec.answer;
}

/** What anything that is not one of our errors is answered with. */
export const UNKNOWN_FAILURE_ANSWER: FixedAnswer = internal(500);

const CODE_OF_STATUS = new Map(
  (Object.keys(ERRORS) as ErrorCode[])
    .filter((code) => ERRORS[code].meansStatus)
    .map((code) => [ERRORS[code].answer.status, code]),
);

/** The code a bare HTTP status means: one of the table's, else INTERNAL for a 5xx, INVALID_INPUT otherwise. */
export function codeForStatus(status: number): ErrorCode {
  return CODE_OF_STATUS.get(status) ?? (status >= 500 ? 'INTERNAL' : 'INVALID_INPUT');
}
