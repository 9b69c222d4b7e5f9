/**
 * A Databricks workspace's contract, for tests: there is no workspace here, so integration tests
 * on the Unity Catalog dialect run against this server, built from MLflow's UC protos and client
 * code and the Databricks SDK's OAuth flow. It is not Databricks: where neither tells what a
 * workspace does, it does the plausible thing and the README lists it as unconfirmed.
 *
 * - Authentication: `Authorization: Bearer <token>` on every API route, where the token is a
 *   personal access token given at start or one the OAuth token endpoint issued and has not
 *   expired or revoked; anything else is 401 UNAUTHENTICATED.
 * - OAuth M2M: `GET /oidc/.well-known/oauth-authorization-server` and `POST /oidc/v1/token`
 *   (client credentials as HTTP Basic, `grant_type=client_credentials`, `scope=all-apis`).
 * - The Unity Catalog prompt API (prompts.ts), experiments and traces (traces.ts), model serving
 *   (serving.ts), SQL statements on a warehouse (sql.ts), and the parts given as `extraRoutes`.
 */

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ContractFailure, type ContractRoute, compileRoutes, isAnswer } from './http';
import { createPromptStore, type PromptStore } from './prompts';
import { createServingEndpoints, type ServingEndpoints } from './serving';
import { createSqlWarehouse, type SqlWarehouse } from './sql';
import { createTraceStore, type TraceStore } from './traces';

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  /** `bearer <kind>` (`pat`, `oauth`, `unknown`), `basic`, or none: never the credential. */
  readonly auth: string | undefined;
  readonly userAgent: string | undefined;
  readonly body: unknown;
  readonly status: number;
}

export interface ContractOptions {
  readonly pats?: readonly string[];
  readonly clients?: Readonly<Record<string, string>>;
  /** Model serving endpoints by name (default `databricks-claude-sonnet-4`). */
  readonly servingEndpoints?: readonly string[];
  /** SQL warehouse ids (default `4b9c1e2f0a3d5e67`). */
  readonly warehouses?: readonly string[];
  /** The `expires_in` of issued tokens, seconds (default 3600). */
  readonly tokenLifetimeSeconds?: number;
  readonly extraRoutes?: (server: { readonly url: string }) => ContractRoute[];
}

export interface DatabricksContract {
  readonly url: string;
  readonly prompts: PromptStore;
  readonly traces: TraceStore;
  readonly serving: ServingEndpoints;
  readonly sql: SqlWarehouse;
  /** Every request, in order of arrival. */
  readonly log: LoggedRequest[];
  /** Tokens the token endpoint issued so far. */
  readonly tokensIssued: number;
  /** Every issued token stops working (a workspace revoking them, or a clock past their expiry). */
  revokeTokens(): void;
  close(): Promise<void>;
}

export const WORKSPACE_ID = '1234567890123456';
export const DEFAULT_WAREHOUSE = '4b9c1e2f0a3d5e67';
const DISCOVERY = '/oidc/.well-known/oauth-authorization-server';
const TOKEN_PATH = '/oidc/v1/token';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startDatabricksContract(options: ContractOptions = {}): Promise<DatabricksContract> {
  const pats = new Set(options.pats ?? []);
  const clients = new Map(Object.entries(options.clients ?? {}));
  const lifetime = options.tokenLifetimeSeconds ?? 3600;
  const issued = new Map<string, number>();
  let tokensIssued = 0;
  const log: LoggedRequest[] = [];
  const self = { url: '' };
  const traces = createTraceStore(self);
  const prompts = createPromptStore((id) => traces.traces.has(id));
  const serving = createServingEndpoints(options.servingEndpoints ?? ['databricks-claude-sonnet-4']);
  const sql = createSqlWarehouse(options.warehouses ?? [DEFAULT_WAREHOUSE]);

  const oauthRoutes: ContractRoute[] = [
    {
      // What the Databricks SDK for Python (0.167) reads first: its OAuth discovery starts at oidc_endpoint.
      method: 'GET',
      path: '/.well-known/databricks-config',
      open: true,
      handle: () => ({ oidc_endpoint: `${self.url}/oidc`, workspace_id: WORKSPACE_ID, cloud: 'aws' }),
    },
    {
      method: 'GET',
      path: DISCOVERY,
      open: true,
      handle: () => ({
        issuer: `${self.url}/oidc`,
        authorization_endpoint: `${self.url}/oidc/v1/authorize`,
        token_endpoint: `${self.url}${TOKEN_PATH}`,
        grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token'],
      }),
    },
  ];

  let route: ReturnType<typeof compileRoutes> = compileRoutes([]);

  function tokenRequest(req: IncomingMessage, raw: Buffer): { status: number; body: unknown } {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(/:(.*)/s) : [];
    const form = new URLSearchParams(raw.toString());
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded')
      return { status: 400, body: { error: 'invalid_request' } };
    if (form.get('grant_type') !== 'client_credentials')
      return { status: 400, body: { error: 'unsupported_grant_type' } };
    if (form.get('scope') !== 'all-apis') return { status: 400, body: { error: 'invalid_scope' } };
    // The description quotes what was presented, as careless servers do: clients must not repeat it.
    if (!id || clients.get(id) !== secret)
      return {
        status: 401,
        body: {
          error: 'invalid_client',
          error_description: `Client authentication failed for ${id}:${secret}`,
        },
      };
    const token = `dbc-oauth-${randomBytes(16).toString('hex')}`;
    issued.set(token, Date.now() + lifetime * 1000);
    tokensIssued += 1;
    return {
      status: 200,
      body: { access_token: token, token_type: 'Bearer', expires_in: lifetime, scope: 'all-apis' },
    };
  }

  function authKind(header: string | undefined): string | undefined {
    if (!header) return undefined;
    const bearer = /^Bearer (.+)$/.exec(header)?.[1];
    if (!bearer) return header.startsWith('Basic ') ? 'basic' : 'other';
    if (pats.has(bearer)) return 'bearer pat';
    const expires = issued.get(bearer);
    if (expires !== undefined && Date.now() < expires) return 'bearer oauth';
    return 'bearer unknown';
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', self.url);
    const method = req.method ?? 'GET';
    const auth = authKind(req.headers.authorization);
    let body: unknown;
    const send = (status: number, payload: unknown, type = 'application/json') => {
      log.push({
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        auth,
        userAgent: req.headers['user-agent'],
        body,
        status,
      });
      const text = type === 'application/json' ? JSON.stringify(payload) : (payload as string | Buffer);
      res.writeHead(status, { 'content-type': type });
      res.end(text);
    };
    const error = (status: number, code: string, message: string) =>
      send(status, { error_code: code, message });

    if (url.pathname === TOKEN_PATH && method === 'POST') {
      body = Object.fromEntries(
        [...new URLSearchParams(raw.toString())].filter(([k]) => k !== 'client_secret'),
      );
      const answer = tokenRequest(req, raw);
      return send(answer.status, answer.body);
    }
    const type = req.headers['content-type'] ?? '';
    if (raw.length > 0 && type.startsWith('application/json')) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return error(400, 'MALFORMED_REQUEST', 'The request body is not JSON.');
      }
    } else if (raw.length > 0) body = { bytes: raw.length, contentType: type };

    const found = route(method, url.pathname);
    if (found === undefined)
      return error(404, 'ENDPOINT_NOT_FOUND', `No API found for '${method} ${url.pathname}'.`);
    if (found === 'method') return error(405, 'ENDPOINT_NOT_FOUND', `Method ${method} not allowed here.`);
    if (!found.route.open && !(auth === 'bearer pat' || auth === 'bearer oauth')) {
      // Echoes the header, as some proxies do: the client must redact it (tested).
      return error(401, 'UNAUTHENTICATED', `Invalid access token: ${req.headers.authorization ?? 'none'}.`);
    }
    // On GET, MLflow's client repeats the path parameters as query parameters: only those.
    for (const [key, value] of url.searchParams) {
      if (method === 'GET' && found.params[key] !== undefined && found.params[key] !== value)
        return error(400, 'INVALID_PARAMETER_VALUE', `Query parameter '${key}' differs from the path.`);
    }
    try {
      const result = await found.route.handle({
        method,
        path: url.pathname,
        params: found.params,
        query: url.searchParams,
        headers: req.headers,
        body: body ?? {},
        raw,
      });
      if (isAnswer(result)) return send(result.status, result.body, result.contentType);
      return send(200, result);
    } catch (failure) {
      if (failure instanceof ContractFailure)
        return error(failure.status, failure.errorCode, failure.message);
      return error(500, 'INTERNAL_ERROR', 'The contract server failed.');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  route = compileRoutes([
    ...oauthRoutes,
    ...prompts.routes,
    ...traces.routes,
    ...serving.routes,
    ...sql.routes,
    ...(options.extraRoutes?.(self) ?? []),
  ]);

  return {
    url: self.url,
    prompts,
    traces,
    serving,
    sql,
    log,
    get tokensIssued() {
      return tokensIssued;
    },
    revokeTokens: () => issued.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
