/**
 * The registry's transport: one undici dispatcher (a keep-alive pool), JSON in and out, a
 * deadline per request, bounded retries with backoff, and every answer checked against a schema.
 */
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import {
  BRIEFLY,
  InvalidInputError,
  isPromptOpsError,
  type PromptOpsError,
  UnavailableError,
  zodIssues,
} from '../errors';
import { normaliseBaseUrl } from '../http/base-url';
import { exchangeRenewing, type RenewedAuth, redact } from '../http/renewed-auth';
import {
  type Attempt,
  callWithRetries,
  DEFAULT_RETRY,
  parseRetryAfter,
  type RetryOptions,
  type RetryPolicy,
  retryClock,
} from '../http/retries';
import { type Exchange, neverSent, noAnswerReason, sharedAgent } from '../http/undici-parts';
import type { RegistryAuth } from './auth';
import { collidedWithConcurrentWrite, errorFromResponse, malformedResponse } from './failures';
import { noteWriteEffect } from './write-effect';

/** MLflow's own client retries these statuses (plus connection errors). */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
/** Statuses that say the request was not taken on: a `once` call may be sent again after them. */
const NOT_TAKEN_STATUS = new Set([429, 503]);

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface CallSpec<T> {
  readonly operation: string;
  readonly method: HttpMethod;
  /**
   * Under the API root, e.g. `/2.0/mlflow/registered-models/get`; with `outsideApi`, from the
   * server's root instead (OTLP's `/v1/traces`).
   */
  readonly path: string;
  readonly outsideApi?: boolean;
  /** GET parameters; MLflow reads every other method's parameters from the JSON body. */
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  /** A body sent as is instead of JSON (OTLP protobuf); the answer is then not read as JSON. */
  readonly binaryBody?: { readonly bytes: Uint8Array; readonly contentType: string };
  readonly headers?: Readonly<Record<string, string>>;
  readonly schema: z.ZodType<T>;
  /**
   * For a call that must not be repeated blindly (a create): before each re-send, this looks for
   * the effect of an earlier attempt whose answer was lost, and returns it if found.
   */
  readonly reconcile?: () => Promise<T | undefined>;
  /** See RetryingCall.acceptOnResend: a refusal on a re-send that means the first attempt took effect. */
  readonly acceptOnResend?: (error: PromptOpsError) => T | undefined;
  /**
   * Re-sent only when it certainly did nothing: a call that starts work on the server (a SQL
   * statement) with no way to find what a lost attempt started. Retried after a refusal that says
   * so (429, 503) or a failure to connect; never after a timeout or a reset, whose outcome is
   * unknown.
   */
  readonly once?: boolean;
}

export interface HttpClientOptions extends RetryOptions {
  /** The tracking server's base URL, e.g. `http://127.0.0.1:5000`; a path prefix is kept. */
  readonly trackingUri: string;
  readonly auth?: RegistryAuth | undefined;
  /**
   * Instead of `auth`: a header asked for before each request; a 401 tells the credentials and
   * the request is sent once more at once with the next header (a 401 means nothing was done).
   */
  readonly credentials?: RenewedAuth | undefined;
  readonly dispatcher?: Dispatcher | undefined;
  readonly timeoutMs?: number | undefined;
  /** What the server is, in messages (default `registry`). */
  readonly service?: string | undefined;
}

export interface HttpClient {
  call<T>(spec: CallSpec<T>): Promise<T>;
  /** Number of HTTP requests sent so far (benchmarks and tests count them). */
  readonly requestCount: number;
  readonly baseUrl: string;
  /** The connection pool, for a request outside the API (a signed upload URL). */
  readonly dispatcher: Dispatcher;
  /** The most one attempt may take. */
  readonly timeoutMs: number;
  /** Gets the credentials' token now (when there are renewed ones), so a timed request does not wait for it. */
  authorize(signal?: AbortSignal): Promise<void>;
}

function networkError(operation: string, service: string, baseUrl: string, cause: unknown): UnavailableError {
  return new UnavailableError(
    `${operation}: the ${service} at ${baseUrl} did not answer (${noAnswerReason(cause)}).`,
    {
      registry: { operation },
      cause,
    },
  );
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  if (options.auth && options.credentials) {
    throw new InvalidInputError('Give the registry client static auth or renewed credentials, not both.');
  }
  const credentials = options.credentials;
  const baseUrl = normaliseBaseUrl(options.trackingUri, 'MLflow tracking URI');
  const dispatcher = options.dispatcher ?? sharedAgent();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const service = options.service ?? 'registry';
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const clock = retryClock(options);
  const now = clock.now;
  const baseHeaders: Record<string, string> = {
    accept: 'application/json',
    'user-agent': 'promptops',
    ...(options.auth ? { authorization: options.auth.header } : {}),
  };
  let requestCount = 0;
  const secrets = options.auth?.secrets ?? [];
  // A renewed token is not known in advance: the one just sent is scrubbed too.
  const scrub = (text: string, header?: string) => redact(text, secrets, header);

  const base = new URL(baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');

  function pathFor(spec: CallSpec<unknown>): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) params.append(key, String(value));
    }
    const search = params.toString();
    return `${basePath}${spec.outsideApi ? '' : '/api'}${spec.path}${search ? `?${search}` : ''}`;
  }

  function requestBody(spec: CallSpec<unknown>): { body: string | Uint8Array | null; type?: string } {
    if (spec.binaryBody) return { body: spec.binaryBody.bytes, type: spec.binaryBody.contentType };
    if (spec.method === 'GET') return { body: null };
    return { body: JSON.stringify(spec.body ?? {}), type: 'application/json' };
  }

  async function attempt<T>(
    spec: CallSpec<T>,
    deadlineMs: number,
    signal: AbortSignal | undefined,
    applied: { may: boolean },
  ): Promise<Attempt<T>> {
    const { body, type } = requestBody(spec);
    let answer: Exchange;
    let header: string | undefined;
    try {
      const sent = await exchangeRenewing(
        dispatcher,
        {
          origin: base.origin,
          path: pathFor(spec),
          method: spec.method,
          headers: { ...baseHeaders, ...spec.headers, ...(type ? { 'content-type': type } : {}) },
          body,
        },
        credentials,
        deadlineMs,
        signal,
      );
      requestCount += sent.sent;
      answer = sent.answer;
      header = sent.header;
    } catch (cause) {
      requestCount += 1;
      // Getting a token failed with its own error (refused client credentials, discovery): kept.
      if (isPromptOpsError(cause)) return { error: cause, retryable: cause.retryable === true };
      // Sent and not answered (a timeout, a reset, the deadline): the server may have acted.
      if (!neverSent(cause)) applied.may = true;
      return {
        error: networkError(spec.operation, service, baseUrl, cause),
        retryable: !spec.once || neverSent(cause),
      };
    }
    const { status, text, retryAfter: retryAfterHeader } = answer;
    if (status >= 200 && status < 300) {
      // Done, whatever its body says: an answer we cannot read does not undo the write.
      applied.may = true;
      // A binary exchange (OTLP) answers in protobuf; success is all we read of it.
      return parseSuccess(spec, spec.binaryBody ? '' : text);
    }
    const retryAfterMs = parseRetryAfter(retryAfterHeader, now());
    // A server error other than "not taken" may have come after the write was made.
    if (status >= 500 && !NOT_TAKEN_STATUS.has(status)) applied.may = true;
    return {
      // A server (or a proxy before it) may echo the request: its words lose our credential.
      error: errorFromResponse(spec.operation, status, scrub(text, header), retryAfterMs),
      retryable: spec.once
        ? NOT_TAKEN_STATUS.has(status)
        : RETRYABLE_STATUS.has(status) || collidedWithConcurrentWrite(status, text),
      retryAfterMs,
    };
  }

  function parseSuccess<T>(spec: CallSpec<T>, text: string): Attempt<T> {
    let json: unknown;
    try {
      json = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      // The parser's message quotes the body, which may echo our credential: it is not kept.
      return { error: malformedResponse(spec.operation, 'not JSON'), retryable: false };
    }
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      const where = zodIssues(parsed.error, BRIEFLY).line;
      return { error: malformedResponse(spec.operation, where, parsed.error), retryable: false };
    }
    return { value: parsed.data, retryable: false };
  }

  async function call<T>(spec: CallSpec<T>): Promise<T> {
    const applied = { may: false };
    try {
      return await callWithRetries({
        operation: spec.operation,
        policy,
        clock,
        attemptTimeoutMs: timeoutMs,
        attempt: (deadlineMs, signal) => attempt(spec, deadlineMs, signal, applied),
        reconcile: spec.reconcile && (() => reconcile(spec)),
        acceptOnResend: spec.acceptOnResend,
      });
    } catch (error) {
      noteWriteEffect(error, applied.may);
      throw error;
    }
  }

  async function reconcile<T>(spec: CallSpec<T>): Promise<Attempt<T>> {
    try {
      const value = await spec.reconcile?.();
      return value === undefined ? { retryable: true } : { value, retryable: false };
    } catch (error) {
      const failure = error as PromptOpsError;
      return { error: failure, retryable: failure.retryable === true };
    }
  }

  return {
    call,
    baseUrl,
    dispatcher,
    timeoutMs,
    async authorize(signal) {
      await credentials?.authorization(signal);
    },
    get requestCount() {
      return requestCount;
    },
  };
}
