/**
 * The two parts of undici the registry client uses, taken from undici's own modules: its index
 * also loads fetch, WebSocket, caches and cookie helpers, which cost about 0.5 MiB of bundle and
 * 28 ms of every cold start (bench/bundles.ts). Pinned undici version; the tests exercise both
 * parts, against MockAgent and a real server.
 */

import type { Agent as AgentType, Dispatcher } from 'undici';
import requestModule from 'undici/lib/api/api-request.js';
import AgentModule from 'undici/lib/dispatcher/agent.js';

export const Agent: typeof AgentType = AgentModule;

/** undici's `request`, on any dispatcher (a keep-alive Agent, or a MockAgent in tests). */
export function dispatchRequest(
  dispatcher: Dispatcher,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return requestModule.call(dispatcher, options);
}
