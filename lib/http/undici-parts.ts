/**
 * The two parts of undici our HTTP clients (the registry's, the model's, the promote API's) use,
 * taken from undici's own modules: its index also loads fetch, WebSocket, caches and cookie
 * helpers, which cost about 0.5 MiB of bundle and 28 ms of every cold start (bench/bundles.ts). Pinned undici version; the tests exercise both
 * parts, against MockAgent and a real server.
 */

import type { Agent as AgentType, Dispatcher } from 'undici';
import requestModule from 'undici/lib/api/api-request.js';
import AgentModule from 'undici/lib/dispatcher/agent.js';

export const Agent: typeof AgentType = AgentModule;

// One pool per process: warm Lambda invocations and CLI calls reuse its connections.
let shared: AgentType | undefined;
export function sharedAgent(): AgentType {
  shared ??= new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  return shared;
}

/** undici's `request`, on any dispatcher (a keep-alive Agent, or a MockAgent in tests). */
function dispatchRequest(
  dispatcher: Dispatcher,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return requestModule.call(dispatcher, options);
}

/** Why a request got no answer, in a word: the socket's code (`ECONNREFUSED`), else the error's name. */
export function noAnswerReason(cause: unknown): string {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : cause instanceof Error ? cause.name : 'network error';
}

/** Failures that happen before a request is sent (no connection): the server cannot have acted on it. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export function neverSent(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NOT_SENT.has(code);
}

export interface Exchange {
  readonly status: number;
  readonly retryAfter: string | string[] | undefined;
  readonly text: string;
  /** The answer's headers (lower-case names), for what a caller reads beyond the status. */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * One request, its answer read to the end, all within `deadlineMs` (and before `signal` aborts,
 * when given: the caller's deadline); network failures throw.
 */
export async function exchange(
  dispatcher: Dispatcher,
  request: Pick<Dispatcher.RequestOptions, 'origin' | 'path' | 'method' | 'headers' | 'body'>,
  deadlineMs: number,
  signal?: AbortSignal,
): Promise<Exchange> {
  const timeout = AbortSignal.timeout(deadlineMs);
  const response = await dispatchRequest(dispatcher, {
    ...request,
    headersTimeout: deadlineMs,
    bodyTimeout: deadlineMs,
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  const retryAfter = response.headers['retry-after'];
  return {
    status: response.statusCode,
    retryAfter,
    headers: response.headers,
    text: await response.body.text(),
  };
}
