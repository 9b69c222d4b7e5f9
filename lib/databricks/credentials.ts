/**
 * Databricks credentials, as the Databricks SDKs resolve them (MLflow delegates to those): a
 * personal access token, or a service principal's OAuth machine-to-machine client credentials.
 *
 * OAuth M2M: the token endpoint is discovered at `{host}/oidc/.well-known/oauth-authorization-server`
 * (and must be on the workspace's own origin: the client secret goes nowhere else); a token is
 * requested with `grant_type=client_credentials&scope=all-apis` and the client id and secret as
 * HTTP Basic; it is used until 40 s before it expires (the SDKs' margin), one request at a time
 * however many callers want it; a 401 for a token drops it, once, however many callers saw it.
 *
 * Nothing here reveals a credential: errors name the step and the server's error code, logging the
 * object shows its kind and host only.
 */
import type { Dispatcher } from 'undici';
import { InvalidInputError, MalformedResponseError, UnauthorizedError, UnavailableError } from '../errors';
import { isLoopbackUrl, normaliseBaseUrl } from '../http/base-url';
import { exchange, noAnswerReason, sharedAgent } from '../http/undici-parts';

export interface DatabricksCredentials {
  readonly kind: 'pat' | 'oauth-m2m';
  /** The workspace URL, without a trailing slash. */
  readonly host: string;
  /** The `Authorization` header value, getting a token first when there is none that is fresh. */
  authorization(signal?: AbortSignal): Promise<string>;
  /**
   * The workspace answered 401 to a request sent with `header`: a token is dropped, so that the
   * next `authorization()` gets a new one (once: later calls with the same header change nothing).
   * A personal access token cannot be renewed: nothing changes.
   */
  refused(header: string): void;
}

export interface M2mOptions {
  readonly host: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly dispatcher?: Dispatcher;
  readonly timeoutMs?: number;
  /** Milliseconds since the epoch (tests move it). */
  readonly now?: () => number;
}

/** The SDKs' margin: a token counts as expired this long before it does. */
export const EXPIRY_MARGIN_MS = 40_000;
/** The operation a refused token request names (a caller may read its secret again on it). */
export const OAUTH_TOKEN_OPERATION = 'oauthToken';
const DISCOVERY_PATH = '/oidc/.well-known/oauth-authorization-server';

/** Hides what must not be logged: the object shows its kind and host only. */
function sealed(credentials: DatabricksCredentials): DatabricksCredentials {
  Object.defineProperty(credentials, 'toJSON', {
    value: () => ({ kind: credentials.kind, host: credentials.host }),
    enumerable: false,
  });
  return Object.freeze(credentials);
}

/** The workspace URL: https, as every workspace is (plain http only on loopback, for a local stand-in). */
function workspaceHost(host: string): string {
  const url = normaliseBaseUrl(host, 'Databricks host');
  if (url.startsWith('http:') && !isLoopbackUrl(url))
    throw new InvalidInputError(
      'The Databricks host must be https: its credentials are not sent in clear text.',
    );
  return url;
}

export function patCredentials(host: string, token: string): DatabricksCredentials {
  if (token.trim() === '') throw new InvalidInputError('The Databricks token is empty.');
  const header = `Bearer ${token}`;
  return sealed({
    kind: 'pat',
    host: workspaceHost(host),
    authorization: async () => header,
    refused: () => {},
  });
}

interface Token {
  readonly header: string;
  readonly expiresAtMs: number;
}

/** The OAuth server's error code (`invalid_client`, ...), never its description, which may echo input. */
function oauthError(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: unknown }).error;
    return typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the work itself goes on for others). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function m2mCredentials(options: M2mOptions): DatabricksCredentials {
  const host = workspaceHost(options.host);
  if (options.clientId.trim() === '' || options.clientSecret.trim() === '')
    throw new InvalidInputError('The Databricks client id and client secret must both be non-empty.');
  const origin = new URL(host).origin;
  const dispatcher = options.dispatcher ?? sharedAgent();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const now = options.now ?? Date.now;
  const basic = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`, 'utf8').toString('base64')}`;

  let endpoint: URL | undefined;
  let token: Token | undefined;
  let pending: Promise<Token> | undefined;

  // No caller's signal: the request is shared by every caller waiting for a token, and one
  // leaving must not fail the others. The timeout bounds it.
  const call = async (what: string, request: Parameters<typeof exchange>[1]) => {
    try {
      return await exchange(dispatcher, request, timeoutMs);
    } catch (cause) {
      throw new UnavailableError(`Databricks ${what} got no answer (${noAnswerReason(cause)}).`, { cause });
    }
  };

  const discover = async (): Promise<URL> => {
    if (endpoint) return endpoint;
    const answer = await call('OAuth discovery', { origin, path: DISCOVERY_PATH, method: 'GET' });
    if (answer.status !== 200)
      throw new UnavailableError(
        `Databricks OAuth discovery answered ${answer.status} at ${host}${DISCOVERY_PATH}.`,
      );
    let found: URL;
    try {
      found = new URL(String((JSON.parse(answer.text) as { token_endpoint?: unknown }).token_endpoint));
    } catch (cause) {
      throw new MalformedResponseError('Databricks OAuth discovery named no token endpoint.', { cause });
    }
    // The client secret is sent to this URL: only to the workspace itself.
    if (found.origin !== origin)
      throw new MalformedResponseError(
        `Databricks OAuth discovery named a token endpoint on ${found.origin}, not on the workspace ${origin}.`,
      );
    endpoint = found;
    return found;
  };

  const requestToken = async (): Promise<Token> => {
    const url = await discover();
    const asked = now();
    const answer = await call('OAuth token request', {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: {
        authorization: basic,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: 'grant_type=client_credentials&scope=all-apis',
    });
    if (answer.status === 400 || answer.status === 401) {
      const code = oauthError(answer.text);
      // A registry refusal of our credentials: the secret may have been rotated, and is read again.
      throw new UnauthorizedError(
        `Databricks refused the service principal's client credentials (${answer.status}${code ? ` ${code}` : ''}).`,
        { registry: { operation: OAUTH_TOKEN_OPERATION, httpStatus: answer.status } },
      );
    }
    if (answer.status !== 200)
      throw new UnavailableError(`Databricks OAuth token request answered ${answer.status}.`);
    let body: { access_token?: unknown; token_type?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(answer.text);
    } catch (cause) {
      throw new MalformedResponseError('Databricks OAuth token answer is not JSON.', { cause });
    }
    const { access_token: access, token_type: type = 'Bearer', expires_in: expiresIn } = body;
    if (
      typeof access !== 'string' ||
      access === '' ||
      typeof type !== 'string' ||
      typeof expiresIn !== 'number'
    )
      throw new MalformedResponseError(
        'Databricks OAuth token answer lacks access_token, token_type or expires_in.',
      );
    // Counted from when it was asked for: the answer's travel time is not the token's.
    return { header: `${type} ${access}`, expiresAtMs: asked + expiresIn * 1000 };
  };

  const fresh = (candidate: Token | undefined) =>
    candidate !== undefined && now() < candidate.expiresAtMs - EXPIRY_MARGIN_MS;

  return sealed({
    kind: 'oauth-m2m',
    host,
    authorization: async (signal) => {
      if (fresh(token)) return (token as Token).header;
      // One request for every caller that finds no fresh token meanwhile.
      pending ??= requestToken().finally(() => {
        pending = undefined;
      });
      const got = await (signal ? raceAbort(pending, signal) : pending);
      token = got;
      return got.header;
    },
    refused: (header) => {
      if (token?.header === header) token = undefined;
    },
  });
}
