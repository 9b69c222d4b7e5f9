/**
 * Turns what MLflow answered (or failed to answer) into the project's error model. The class is
 * chosen from MLflow's `error_code`, not the HTTP status: MLflow answers an existing name with
 * HTTP 400 `RESOURCE_ALREADY_EXISTS` and a missing alias with HTTP 400 `INVALID_PARAMETER_VALUE`.
 * The status decides only when the body is not MLflow's JSON (a proxy, an old server, auth).
 */
import {
  AlreadyExistsError,
  ConflictError,
  ForbiddenError,
  InternalError,
  InvalidInputError,
  MalformedResponseError,
  NotFoundError,
  type PromptOpsError,
  RateLimitedError,
  type RegistryErrorContext,
  UnauthorizedError,
  UnavailableError,
  UnsupportedError,
} from '../errors';

type ErrorFactory = (message: string, context: RegistryErrorContext, retryAfterMs?: number) => PromptOpsError;

const byClass =
  (Cls: new (message: string, options: { registry: RegistryErrorContext }) => PromptOpsError): ErrorFactory =>
  (message, registry) =>
    new Cls(message, { registry });

const rateLimited: ErrorFactory = (message, registry, retryAfterMs) =>
  new RateLimitedError(message, retryAfterMs === undefined ? { registry } : { registry, retryAfterMs });
const unavailable: ErrorFactory = (message, registry, retryAfterMs) =>
  new UnavailableError(message, retryAfterMs === undefined ? { registry } : { registry, retryAfterMs });

/** MLflow's `error_code` names (mlflow/protos/databricks.proto) to our classes. */
const BY_MLFLOW_CODE: Readonly<Record<string, ErrorFactory>> = {
  INVALID_PARAMETER_VALUE: byClass(InvalidInputError),
  BAD_REQUEST: byClass(InvalidInputError),
  MALFORMED_REQUEST: byClass(InvalidInputError),
  INVALID_STATE: byClass(ConflictError),
  RESOURCE_DOES_NOT_EXIST: byClass(NotFoundError),
  NOT_FOUND: byClass(NotFoundError),
  ENDPOINT_NOT_FOUND: byClass(UnsupportedError),
  NOT_IMPLEMENTED: byClass(UnsupportedError),
  FEATURE_DISABLED: byClass(UnsupportedError),
  RESOURCE_ALREADY_EXISTS: byClass(AlreadyExistsError),
  ALREADY_EXISTS: byClass(AlreadyExistsError),
  RESOURCE_CONFLICT: byClass(ConflictError),
  ABORTED: byClass(ConflictError),
  PERMISSION_DENIED: byClass(ForbiddenError),
  UNAUTHENTICATED: byClass(UnauthorizedError),
  CUSTOMER_UNAUTHORIZED: byClass(UnauthorizedError),
  REQUEST_LIMIT_EXCEEDED: rateLimited,
  RESOURCE_EXHAUSTED: rateLimited,
  TEMPORARILY_UNAVAILABLE: unavailable,
  DEADLINE_EXCEEDED: unavailable,
  INTERNAL_ERROR: byClass(InternalError),
};

function byStatus(status: number): ErrorFactory {
  if (status === 401) return byClass(UnauthorizedError);
  if (status === 403) return byClass(ForbiddenError);
  // A 404 without MLflow's JSON is the route itself missing (MLflow calls it ENDPOINT_NOT_FOUND).
  if (status === 404 || status === 405 || status === 501) return byClass(UnsupportedError);
  if (status === 409) return byClass(ConflictError);
  if (status === 429) return rateLimited;
  if (status === 408 || status === 502 || status === 503 || status === 504) return unavailable;
  if (status >= 500) return byClass(InternalError);
  return byClass(InvalidInputError);
}

/** MLflow's client rewords model-registry nouns for prompts; we do the same. */
export function promptWording(message: string): string {
  const swap = (match: string) => (match.startsWith('R') || match.startsWith('M') ? 'Prompt' : 'prompt');
  return message.replace(/registered model|model version/gi, swap);
}

export interface ErrorBody {
  readonly error_code: string;
  readonly message?: string;
}

function parseErrorBody(text: string): ErrorBody | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'error_code' in parsed) {
      const { error_code, message } = parsed as { error_code: unknown; message?: unknown };
      if (typeof error_code === 'string') {
        return typeof message === 'string' ? { error_code, message } : { error_code };
      }
    }
  } catch {
    // Not JSON: an HTML error page from a proxy or a framework. Classified by status below.
  }
  return undefined;
}

export function errorFromResponse(
  operation: string,
  status: number,
  bodyText: string,
  retryAfterMs?: number,
): PromptOpsError {
  const body = parseErrorBody(bodyText);
  if (body === undefined) {
    const context = { operation, httpStatus: status };
    return byStatus(status)(`${operation}: the registry answered HTTP ${status}`, context, retryAfterMs);
  }
  const context = { operation, httpStatus: status, mlflowErrorCode: body.error_code };
  const factory = BY_MLFLOW_CODE[body.error_code] ?? byStatus(status);
  const detail = body.message ? promptWording(body.message) : `HTTP ${status}`;
  return factory(`${operation}: ${body.error_code}: ${detail}`, context, retryAfterMs);
}

export function malformedResponse(
  operation: string,
  problem: string,
  cause?: unknown,
): MalformedResponseError {
  return new MalformedResponseError(`${operation}: the registry's answer is malformed: ${problem}`, {
    registry: { operation },
    cause,
  });
}
