/**
 * An error from its code, for failures that arrive as a code and a message: MLflow's error
 * answers, the promote API's problem details.
 */
import { ERRORS, type ErrorCode } from './catalog';
import {
  AlreadyExistsError,
  AuditIncompleteError,
  ConfigError,
  ConflictError,
  DeadlineExceededError,
  ForbiddenError,
  InternalError,
  InvalidInputError,
  MalformedResponseError,
  MissingVariablesError,
  ModelError,
  MoveInProgressError,
  NotFoundError,
  type PromptOpsError,
  type PromptOpsErrorOptions,
  RateLimitedError,
  SecretError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedError,
  UnsupportedTemplateError,
} from './classes';

type Build = (message: string, options: PromptOpsErrorOptions) => PromptOpsError;
type Plain = new (message: string, options: PromptOpsErrorOptions) => PromptOpsError;

/** The codes whose class takes a message and options, as every error does. */
const PLAIN: { readonly [C in ErrorCode]?: Plain } = {
  INVALID_INPUT: InvalidInputError,
  TEMPLATE_UNSUPPORTED: UnsupportedTemplateError,
  INVALID_CONFIG: ConfigError,
  INVALID_SECRET: SecretError,
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  CONFLICT: ConflictError,
  AUDIT_INCOMPLETE: AuditIncompleteError,
  UNAUTHORIZED: UnauthorizedError,
  FORBIDDEN: ForbiddenError,
  RATE_LIMITED: RateLimitedError,
  UNAVAILABLE: UnavailableError,
  UNSUPPORTED: UnsupportedError,
  MALFORMED_RESPONSE: MalformedResponseError,
  MODEL_FAILED: ModelError,
  DEADLINE_EXCEEDED: DeadlineExceededError,
  INTERNAL: InternalError,
};

/** INVALID_PROMPT_FILE is missing: its file is part of the message and cannot be told apart from it. */
const BUILD: { readonly [C in ErrorCode]?: Build } = {
  ...Object.fromEntries(
    Object.entries(PLAIN).map(([code, Class]) => [
      code,
      (m: string, o: PromptOpsErrorOptions) => new Class(m, o),
    ]),
  ),
  // The message names the variables; they do not arrive as a list.
  MISSING_VARIABLES: (m, o) => new MissingVariablesError([], { ...o, message: m }),
  // Without a Retry-After the lock's holder is still expected to finish within a second or so.
  MOVE_IN_PROGRESS: (m, o) => new MoveInProgressError(m, { ...o, retryAfterMs: o.retryAfterMs ?? 1_000 }),
};

/** Whether `errorFromCode` can build an error of this code. */
export function isBuildableCode(code: string): code is ErrorCode {
  return Object.hasOwn(BUILD, code);
}

/**
 * The error `code` names, with `message`. A wait (`retryAfterMs`) is kept only for a code the
 * catalog says is retryable; a code that cannot be built (see `isBuildableCode`) gives an
 * InvalidInputError.
 */
export function errorFromCode(
  code: ErrorCode,
  message: string,
  options: PromptOpsErrorOptions = {},
): PromptOpsError {
  const { retryAfterMs, ...rest } = options;
  const kept = ERRORS[code].retryable && retryAfterMs !== undefined ? { ...rest, retryAfterMs } : rest;
  const build = BUILD[code];
  return build ? build(message, kept) : new InvalidInputError(message, kept);
}
