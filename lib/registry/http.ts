/**
 * The registry's transport: one undici dispatcher (a keep-alive pool), JSON in and out, a
 * deadline per request, bounded retries with backoff, and every answer checked against a schema.
 */
import type { Agent as AgentType, Dispatcher } from 'undici';
import type { z } from 'zod';
import { InvalidInputError, type PromptOpsError, UnavailableError } from '../errors';
import type { RegistryAuth } from './auth';
import { errorFromResponse, malformedResponse } from './failures';
import { Agent, type Exchange, exchange } from './undici-parts';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Backoff before the second attempt; doubles each time, with full jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** No retry is started that would end after this much time since the first attempt. */
  readonly maxElapsedMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxElapsedMs: 20_000,
};

/** MLflow's own client retries these statuses (plus connection errors). */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface CallSpec<T> {
  readonly operation: string;
  readonly method: HttpMethod;
  /** Under the API root, e.g. `/2.0/mlflow/registered-models/get`. */
  readonly path: string;
  /** GET parameters; MLflow reads every other method's parameters from the JSON body. */
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  readonly schema: z.ZodType<T>;
  /**
   * For a call that must not be repeated blindly (a create): before each re-send, this looks for
   * the effect of an earlier attempt whose answer was lost, and returns it if found.
   */
  readonly reconcile?: () => Promise<T | undefined>;
}

export interface HttpClientOptions {
  /** The tracking server's base URL, e.g. `http://127.0.0.1:5000`; a path prefix is kept. */
  readonly trackingUri: string;
  readonly auth?: RegistryAuth | undefined;
  readonly dispatcher?: Dispatcher | undefined;
  readonly timeoutMs?: number | undefined;
  readonly retry?: Partial<RetryPolicy> | undefined;
  /** Seams for tests. */
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
}

export interface HttpClient {
  call<T>(spec: CallSpec<T>): Promise<T>;
  /** Number of HTTP requests sent so far (benchmarks and tests count them). */
  readonly requestCount: number;
  readonly baseUrl: string;
}

// One pool per process: warm Lambda invocations and CLI calls reuse its connections.
let sharedAgent: AgentType | undefined;
function defaultDispatcher(): AgentType {
  sharedAgent ??= new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  return sharedAgent;
}

// A referenced timer: the caller awaits it, and an unreferenced one would let a CLI process exit
// in the middle of a retry.
const defaultSleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

/** Strips credentials a user may have put in the URI; they are never printed or sent as such. */
export function normaliseTrackingUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    // The URI itself is not echoed: it may carry credentials.
    throw new InvalidInputError('The MLflow tracking URI is not a valid URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`The MLflow tracking URI must be http(s), got '${url.protocol}'.`);
  }
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

/** Seconds or an HTTP date, per RFC 9110; anything else is ignored. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function networkError(operation: string, baseUrl: string, cause: unknown): UnavailableError {
  const code = (cause as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? code : cause instanceof Error ? cause.name : 'network error';
  return new UnavailableError(`${operation}: the registry at ${baseUrl} did not answer (${reason}).`, {
    registry: { operation },
    cause,
  });
}

interface Attempt<T> {
  readonly value?: T;
  readonly error?: PromptOpsError;
  readonly retryable: boolean;
  readonly retryAfterMs?: number | undefined;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const baseUrl = normaliseTrackingUri(options.trackingUri);
  const dispatcher = options.dispatcher ?? defaultDispatcher();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const baseHeaders: Record<string, string> = {
    accept: 'application/json',
    'user-agent': 'promptops',
    ...(options.auth ? { authorization: options.auth.header } : {}),
  };
  let requestCount = 0;
  // Secrets shorter than this would blank out ordinary words; no real credential is that short.
  const secrets = (options.auth?.secrets ?? []).filter((secret) => secret.length >= 6);
  const scrub = (text: string) => secrets.reduce((out, secret) => out.split(secret).join('[redacted]'), text);

  const base = new URL(baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');

  function pathFor(path: string, query: CallSpec<unknown>['query']): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) params.append(key, String(value));
    }
    const search = params.toString();
    return `${basePath}/api${path}${search ? `?${search}` : ''}`;
  }

  async function attempt<T>(spec: CallSpec<T>, deadlineMs: number): Promise<Attempt<T>> {
    const hasBody = spec.method !== 'GET';
    requestCount += 1;
    let answer: Exchange;
    try {
      answer = await exchange(
        dispatcher,
        {
          origin: base.origin,
          path: pathFor(spec.path, spec.query),
          method: spec.method,
          headers: hasBody ? { ...baseHeaders, 'content-type': 'application/json' } : baseHeaders,
          body: hasBody ? JSON.stringify(spec.body ?? {}) : null,
        },
        deadlineMs,
      );
    } catch (cause) {
      return { error: networkError(spec.operation, baseUrl, cause), retryable: true };
    }
    const { status, text, retryAfter: retryAfterHeader } = answer;
    if (status >= 200 && status < 300) {
      return parseSuccess(spec, text);
    }
    const retryAfterMs = parseRetryAfter(retryAfterHeader, now());
    return {
      // A server (or a proxy before it) may echo the request: its words lose our credential.
      error: errorFromResponse(spec.operation, status, scrub(text), retryAfterMs),
      retryable: RETRYABLE_STATUS.has(status),
      retryAfterMs,
    };
  }

  function parseSuccess<T>(spec: CallSpec<T>, text: string): Attempt<T> {
    let json: unknown;
    try {
      json = text.trim() === '' ? {} : JSON.parse(text);
    } catch (cause) {
      return { error: malformedResponse(spec.operation, 'not JSON', cause), retryable: false };
    }
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      const where = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ');
      return { error: malformedResponse(spec.operation, where, parsed.error), retryable: false };
    }
    return { value: parsed.data, retryable: false };
  }

  function backoffMs(failedAttempts: number, retryAfterMs: number | undefined): number {
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempts - 1));
    const jittered = Math.round(random() * ceiling);
    return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
  }

  async function call<T>(spec: CallSpec<T>): Promise<T> {
    const started = now();
    let last: Attempt<T> | undefined;
    for (let n = 1; n <= policy.maxAttempts; n += 1) {
      if (last !== undefined) {
        const delay = backoffMs(n - 1, last.retryAfterMs);
        if (now() - started + delay > policy.maxElapsedMs) break;
        await sleep(delay);
        if (spec.reconcile) {
          const found = await reconcile(spec);
          if (found.value !== undefined) return found.value;
          if (found.error) {
            last = found;
            if (!found.retryable) break;
            continue;
          }
        }
      }
      // No attempt outlives the call's budget: each gets what is left of it, at most timeoutMs.
      const left = policy.maxElapsedMs - (now() - started);
      last = await attempt(spec, Math.max(1, Math.min(timeoutMs, left)));
      if (last.error === undefined) return last.value as T;
      if (!last.retryable) break;
    }
    throw last?.error ?? new UnavailableError(`${spec.operation}: no attempt was made`);
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
    get requestCount() {
      return requestCount;
    },
  };
}
