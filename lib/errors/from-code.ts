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

/** INVALID_PROMPT_FILE is missing: its file is part of the message and cannot be told apart from it. */
const BUILD: { readonly [C in ErrorCode]?: Build } = {
  INVALID_INPUT: (m, o) => new InvalidInputError(m, o),
  // The message names the variables; they do not arrive as a list.
  MISSING_VARIABLES: (m, o) => new MissingVariablesError([], { ...o, message: m }),
  TEMPLATE_UNSUPPORTED: (m, o) => new UnsupportedTemplateError(m, o),
  INVALID_CONFIG: (m, o) => new ConfigError(m, o),
  INVALID_SECRET: (m, o) => new SecretError(m, o),
  NOT_FOUND: (m, o) => new NotFoundError(m, o),
  ALREADY_EXISTS: (m, o) => new AlreadyExistsError(m, o),
  CONFLICT: (m, o) => new ConflictError(m, o),
  // Without a Retry-After the lock's holder is still expected to finish within a second or so.
  MOVE_IN_PROGRESS: (m, o) => new MoveInProgressError(m, { ...o, retryAfterMs: o.retryAfterMs ?? 1_000 }),
  AUDIT_INCOMPLETE: (m, o) => new AuditIncompleteError(m, o),
  UNAUTHORIZED: (m, o) => new UnauthorizedError(m, o),
  FORBIDDEN: (m, o) => new ForbiddenError(m, o),
  RATE_LIMITED: (m, o) => new RateLimitedError(m, o),
  UNAVAILABLE: (m, o) => new UnavailableError(m, o),
  UNSUPPORTED: (m, o) => new UnsupportedError(m, o),
  MALFORMED_RESPONSE: (m, o) => new MalformedResponseError(m, o),
  MODEL_FAILED: (m, o) => new ModelError(m, o),
  DEADLINE_EXCEEDED: (m, o) => new DeadlineExceededError(m, o),
  INTERNAL: (m, o) => new InternalError(m, o),
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
