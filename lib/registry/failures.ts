/**
 * Turns what MLflow answered (or failed to answer) into the project's error model. The code is
 * chosen from MLflow's `error_code`, not the HTTP status: MLflow answers an existing name with
 * HTTP 400 `RESOURCE_ALREADY_EXISTS` and a missing alias with HTTP 400 `INVALID_PARAMETER_VALUE`.
 * The status decides only when the body is not MLflow's JSON (a proxy, an old server, auth).
 */
import {
  codeForStatus,
  type ErrorCode,
  errorFromCode,
  MalformedResponseError,
  type PromptOpsError,
} from '../errors';
import { own } from '../util/own';

/** MLflow's `error_code` names (mlflow/protos/databricks.proto) to our codes. */
const BY_MLFLOW_CODE: Readonly<Record<string, ErrorCode>> = {
  INVALID_PARAMETER_VALUE: 'INVALID_INPUT',
  BAD_REQUEST: 'INVALID_INPUT',
  MALFORMED_REQUEST: 'INVALID_INPUT',
  INVALID_STATE: 'CONFLICT',
  RESOURCE_DOES_NOT_EXIST: 'NOT_FOUND',
  NOT_FOUND: 'NOT_FOUND',
  ENDPOINT_NOT_FOUND: 'UNSUPPORTED',
  NOT_IMPLEMENTED: 'UNSUPPORTED',
  FEATURE_DISABLED: 'UNSUPPORTED',
  RESOURCE_ALREADY_EXISTS: 'ALREADY_EXISTS',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  RESOURCE_CONFLICT: 'CONFLICT',
  ABORTED: 'CONFLICT',
  PERMISSION_DENIED: 'FORBIDDEN',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  CUSTOMER_UNAUTHORIZED: 'UNAUTHORIZED',
  REQUEST_LIMIT_EXCEEDED: 'RATE_LIMITED',
  RESOURCE_EXHAUSTED: 'RATE_LIMITED',
  TEMPORARILY_UNAVAILABLE: 'UNAVAILABLE',
  DEADLINE_EXCEEDED: 'UNAVAILABLE',
  INTERNAL_ERROR: 'INTERNAL',
};

/**
 * Statuses that mean something else from the registry (or what fronts it) than a bare status
 * means in the catalog. A 404 without MLflow's JSON is the route itself missing (MLflow calls it
 * ENDPOINT_NOT_FOUND); a timeout or a gateway's 502 or 504 is the registry out of reach for now.
 */
const BY_REGISTRY_STATUS: Readonly<Record<number, ErrorCode>> = {
  404: 'UNSUPPORTED',
  405: 'UNSUPPORTED',
  501: 'UNSUPPORTED',
  408: 'UNAVAILABLE',
  502: 'UNAVAILABLE',
  504: 'UNAVAILABLE',
};

const codeOfStatus = (status: number) => BY_REGISTRY_STATUS[status] ?? codeForStatus(status);

/** MLflow's client rewords model-registry nouns for prompts; we do the same. */
export function promptWording(message: string): string {
  const swap = (match: string) => (match.startsWith('R') || match.startsWith('M') ? 'Prompt' : 'prompt');
  return message.replace(/registered model|model version/gi, swap);
}

/**
 * Two writers inserting the same row at once (the first tag of a prompt set by ten cold starts):
 * MLflow passes its database's unique-key error on as a 400. Nothing was written by the loser, and
 * the same write sent again updates the row the winner made: retried like a throttle.
 */
const CONCURRENT_INSERT =
  /UNIQUE constraint failed|Duplicate entry .* for key|duplicate key value violates unique constraint/i;

export function collidedWithConcurrentWrite(status: number, bodyText: string): boolean {
  return status === 400 && CONCURRENT_INSERT.test(bodyText.slice(0, 10_000));
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
    return errorFromCode(codeOfStatus(status), `${operation}: the registry answered HTTP ${status}`, {
      registry: { operation, httpStatus: status },
      retryAfterMs,
    });
  }
  // Own properties only: an error_code of 'toString' is not a code of ours.
  const code = own(BY_MLFLOW_CODE, body.error_code) ?? codeOfStatus(status);
  const detail = body.message ? promptWording(body.message) : `HTTP ${status}`;
  return errorFromCode(code, `${operation}: ${body.error_code}: ${detail}`, {
    registry: { operation, httpStatus: status, mlflowErrorCode: body.error_code },
    retryAfterMs,
  });
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
