/**
 * The project's one error model. Every error we raise is a `PromptOpsError` with a stable `code`
 * that callers (handlers, the CLI, tests) switch on; foreign errors are wrapped once, where they
 * enter (the registry adapter, the file loader), and keep their original as `cause`.
 *
 * Messages are written for the person who has to act on them and never carry a credential. What
 * each code means to a caller (status, retryable, what is shown) is in the catalog.
 */

import { ERRORS, type ErrorCode } from './catalog';

/** A problem with one field of some input: `path` is dotted (`messages.0.role`), `''` for the whole. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** Where a registry error came from; present on every error raised by `lib/registry`. */
export interface RegistryErrorContext {
  /** Our operation name, e.g. `resolveAlias`. */
  readonly operation: string;
  /** HTTP status of the last response, when there was one. */
  readonly httpStatus?: number;
  /** MLflow's `error_code` from the response body, when there was one. */
  readonly mlflowErrorCode?: string;
}

export interface PromptOpsErrorOptions {
  readonly cause?: unknown;
  readonly registry?: RegistryErrorContext;
  readonly issues?: readonly FieldIssue[];
  /** How long to wait before trying again, when the failure says (a `Retry-After`). */
  readonly retryAfterMs?: number | undefined;
}

export class PromptOpsError extends Error {
  readonly code: ErrorCode = 'INTERNAL';
  readonly registry: RegistryErrorContext | undefined;
  readonly issues: readonly FieldIssue[];
  /** What the server asked us to wait (`Retry-After`), when it said; only for retryable errors. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: PromptOpsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.registry = options.registry;
    this.issues = options.issues ?? [];
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Whether repeating the same call later may succeed: the catalog says, by code. */
  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: TypeScript's mixin rule asks for exactly `any[]`.
type ErrorClass = new (...args: any[]) => PromptOpsError;

/** `Base` with errors of its own `code`; the subclasses below that add nothing else are one line. */
function withCode<B extends ErrorClass>(Base: B, code: ErrorCode) {
  return class extends Base {
    override readonly code: ErrorCode = code;
  };
}

// The errors that differ only by their code, one line each.
/** The caller sent something the registry or this library refuses (bad name, bad URI, bad value). */
export class InvalidInputError extends withCode(PromptOpsError, 'INVALID_INPUT') {}
/** The function's own configuration (environment) is missing or malformed: fails the cold start. */
export class ConfigError extends withCode(PromptOpsError, 'INVALID_CONFIG') {}
/** A secret that is missing, not JSON, or of the wrong shape. Never carries the secret's values. */
export class SecretError extends withCode(PromptOpsError, 'INVALID_SECRET') {}
export class NotFoundError extends withCode(PromptOpsError, 'NOT_FOUND') {}
export class AlreadyExistsError extends withCode(PromptOpsError, 'ALREADY_EXISTS') {}
export class ConflictError extends withCode(PromptOpsError, 'CONFLICT') {}
/**
 * An alias moved, its record could not be written, and the move could not be undone either: the
 * registry holds a move without its audit record. Never the caller's fault; the log says which.
 */
export class AuditIncompleteError extends withCode(PromptOpsError, 'AUDIT_INCOMPLETE') {}
export class UnauthorizedError extends withCode(PromptOpsError, 'UNAUTHORIZED') {}
export class ForbiddenError extends withCode(PromptOpsError, 'FORBIDDEN') {}
export class RateLimitedError extends withCode(PromptOpsError, 'RATE_LIMITED') {}
/** The registry could not be reached, timed out, or answered with a transient 5xx. */
export class UnavailableError extends withCode(PromptOpsError, 'UNAVAILABLE') {}
/** The server lacks the endpoint or feature (an older MLflow). */
export class UnsupportedError extends withCode(PromptOpsError, 'UNSUPPORTED') {}
/** The server answered, but not with what its API promises. */
export class MalformedResponseError extends withCode(PromptOpsError, 'MALFORMED_RESPONSE') {}
/**
 * The caller's deadline passed, or too little of it was left to start (or retry) a call. Nothing
 * is retried after it: the time is gone. `cause` is the failure that would have been retried.
 */
export class DeadlineExceededError extends withCode(PromptOpsError, 'DEADLINE_EXCEEDED') {}
/** The registry failed in a way that is not the caller's fault and not transient. */
export class InternalError extends withCode(PromptOpsError, 'INTERNAL') {}
/** A template this library deliberately does not render (MLflow's Jinja2 mode). */
export class UnsupportedTemplateError extends withCode(InvalidInputError, 'TEMPLATE_UNSUPPORTED') {}

/** Formatting a template without values for some of its variables. */
export class MissingVariablesError extends InvalidInputError {
  override readonly code: ErrorCode = 'MISSING_VARIABLES';
  readonly missing: readonly string[];
  constructor(missing: readonly string[], options: PromptOpsErrorOptions & { message?: string } = {}) {
    super(
      options.message ??
        `Missing values for template variables: ${missing.join(', ')}. ` +
          'Pass them, or format partially to leave them in place.',
      options,
    );
    this.missing = missing;
  }
}

/** A prompt file under `prompts/` (or uploaded) that does not validate. */
export class InvalidPromptFileError extends InvalidInputError {
  override readonly code: ErrorCode = 'INVALID_PROMPT_FILE';
  readonly file: string;
  constructor(file: string, problem: string, options: PromptOpsErrorOptions = {}) {
    super(`${file}: ${problem}`, options);
    this.file = file;
  }
}

/**
 * Another move of the same alias holds the lock and did not finish in time: the state the caller
 * saw may be about to change. Retrying later is safe; with `expectedVersion` it then conflicts or
 * succeeds on the new state.
 */
export class MoveInProgressError extends ConflictError {
  override readonly code: ErrorCode = 'MOVE_IN_PROGRESS';
  declare readonly retryAfterMs: number;
  constructor(message: string, options: PromptOpsErrorOptions & { retryAfterMs: number }) {
    super(message, options);
  }
}

/**
 * The model endpoint (an OpenAI-compatible chat-completions API) failed: refused the request,
 * answered garbage, or kept failing after the retries. `httpStatus` is its last status, if any.
 */
export class ModelError extends PromptOpsError {
  override readonly code: ErrorCode = 'MODEL_FAILED';
  readonly httpStatus: number | undefined;
  constructor(message: string, options: PromptOpsErrorOptions & { httpStatus?: number | undefined } = {}) {
    super(message, options);
    this.httpStatus = options.httpStatus;
  }
}

export function isPromptOpsError(value: unknown): value is PromptOpsError {
  return value instanceof PromptOpsError;
}
