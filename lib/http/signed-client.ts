/**
 * A client for the promote API (functions/promote, behind API Gateway with IAM authorization).
 * Every request is signed with SigV4 for `execute-api` with credentials from the standard AWS
 * chain, and exactly what was signed is sent. Refusals, RFC 9457 problem details, become the
 * PromptOpsError their `code` names, so callers switch on codes as they do for the registry; the
 * server's own words stay available through `problemOf(error)`.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Agent as AgentType, Dispatcher } from 'undici';
import {
  codeForStatus,
  errorFromCode,
  type FieldIssue,
  InvalidInputError,
  isBuildableCode,
  MalformedResponseError,
  type PromptOpsError,
  UnauthorizedError,
  UnavailableError,
} from '../errors';
import type { ExperimentChange, ExperimentDetails, StartBody, StopBody } from '../experiments/api';
import type { MoveResponse, PromoteBody, PromptDetails, PromptListing, RollbackBody } from '../promote/api';
import { normaliseBaseUrl } from './base-url';
import { parseRetryAfter } from './retries';
import { Agent, type Exchange, exchange, noAnswerReason } from './undici-parts';

/**
 * serverless-offline turns this header into `requestContext.authorizer` (there is no IAM check
 * locally). API Gateway in AWS ignores it, and the function trusts only the request context.
 */
export const LOCAL_AUTHORIZER_HEADER = 'sls-offline-authorizer-override';

/** The header naming `principal` as the caller to a local serverless-offline API. */
export function localPrincipalHeaders(principal: string): Record<string, string> {
  return { [LOCAL_AUTHORIZER_HEADER]: JSON.stringify({ iam: { userArn: principal } }) };
}

function requiredRegion(region: string | undefined): string {
  if (!region) throw new InvalidInputError('No region to sign the request for.');
  return region;
}

/** API Gateway's limit for an HTTP API integration is 30 s; a little more covers the round trip. */
const DEFAULT_TIMEOUT_MS = 35_000;

type Credentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

export interface ApiClientOptions {
  /** The API's base URL, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com` (a stage path is kept). */
  readonly baseUrl: string;
  /** The region to sign for (not needed with `localPrincipal`: local requests are not signed). */
  readonly region?: string | undefined;
  /** Default: the standard AWS credential chain (environment, profiles, SSO, container, instance). */
  readonly credentials?: Credentials | undefined;
  /**
   * Local serverless-offline runs only: the principal (ARN) the function should see. Such requests
   * are not signed: serverless-offline checks no signature, so no credentials are read for them.
   */
  readonly localPrincipal?: string | undefined;
  readonly timeoutMs?: number | undefined;
}

export interface PageQuery {
  readonly maxResults?: number | undefined;
  readonly pageToken?: string | undefined;
}

export interface ApiClient {
  promote(name: string, body: PromoteBody): Promise<MoveResponse>;
  rollback(name: string, body: RollbackBody): Promise<MoveResponse>;
  describe(name: string, query?: PageQuery): Promise<PromptDetails>;
  list(query?: PageQuery): Promise<PromptListing>;
  /** `POST /prompts/{name}/experiment`: starts or changes the prompt's experiment. */
  startExperiment(name: string, body: StartBody): Promise<ExperimentChange>;
  /** `DELETE /prompts/{name}/experiment`: stops it. */
  stopExperiment(name: string, body: StopBody): Promise<ExperimentChange>;
  showExperiment(name: string): Promise<ExperimentDetails>;
  /** `POST /predict`: the agent's answer to a ChatAgentRequest. */
  predict(body: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

/** What the API (or API Gateway in front of it) answered when it refused; the `cause` of the error thrown. */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';
  constructor(
    readonly status: number,
    /** The server's code, as sent (it may be one this client does not know). */
    readonly code: string,
    readonly detail: string,
    readonly requestId: string | undefined,
    /** What the server asked us to wait (`Retry-After`), when it said. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(`${status} ${code}: ${detail}`);
  }
}

/** The API's refusal behind an error thrown by this client, when there was one. */
export function problemOf(error: unknown): ApiProblem | undefined {
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause instanceof ApiProblem ? cause : undefined;
}

/** The region in an `https://<id>.execute-api.<region>.amazonaws.com` URL. */
export function regionFromApiUrl(url: string): string | undefined {
  try {
    return /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
  } catch {
    return undefined;
  }
}

/** RFC 3986 escaping, as SigV4's canonical query uses: what is sent decodes to what was signed. */
function escapeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function fieldIssues(value: unknown): FieldIssue[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) =>
    typeof item?.message === 'string'
      ? [{ path: typeof item.path === 'string' ? item.path : '', message: item.message }]
      : [],
  );
}

/** A refusal as an error: the problem's code and detail, or API Gateway's own short `message`. */
export function errorFromAnswer(
  status: number,
  text: string,
  retryAfterMs: number | undefined,
): PromptOpsError {
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') json = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: a proxy or API Gateway page; the status alone says what happened.
  }
  if (typeof json.code === 'string' && typeof json.detail === 'string') {
    const requestId = typeof json.requestId === 'string' ? json.requestId : undefined;
    const problem = new ApiProblem(status, json.code, json.detail, requestId, retryAfterMs);
    const options = { cause: problem, issues: fieldIssues(json.errors), retryAfterMs };
    return isBuildableCode(json.code)
      ? errorFromCode(json.code, json.detail, options)
      : errorFromCode(codeForStatus(status), `${json.code}: ${json.detail}`, options);
  }
  // API Gateway answers `{"message":"Forbidden"}` and the like before the function runs.
  const message =
    typeof json.message === 'string' ? json.message.slice(0, 200).replace(/\.+$/, '') : undefined;
  const hint =
    status === 403
      ? ' The signature was refused: check the AWS credentials, the region signed for, and that ' +
        'they may call execute-api:Invoke on this API.'
      : '';
  const code = codeForStatus(status);
  const detail = `API Gateway answered HTTP ${status}${message ? `: ${message}` : ''}.${hint}`;
  return errorFromCode(code, detail, {
    cause: new ApiProblem(status, code, detail, undefined, retryAfterMs),
    retryAfterMs,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Cheap shape checks of answers: enough that printing them cannot go wrong silently. */
const looksLikeMove = (v: Record<string, unknown>) =>
  typeof v.alias === 'string' && typeof v.version === 'number' && typeof v.changed === 'boolean';
const looksLikeDetails = (v: Record<string, unknown>) =>
  typeof v.name === 'string' && Array.isArray(v.versions) && isRecord(v.aliases) && isRecord(v.history);
const looksLikeChange = (v: Record<string, unknown>) =>
  typeof v.changed === 'boolean' && isRecord(v.experiment) && typeof v.action === 'string';
const looksLikeExperiment = (v: Record<string, unknown>) =>
  typeof v.name === 'string' && Array.isArray(v.history) && (v.experiment === null || isRecord(v.experiment));
const looksLikeListing = (v: Record<string, unknown>) => Array.isArray(v.prompts);
const looksLikeAgentAnswer = (v: Record<string, unknown>) =>
  Array.isArray(v.messages) && isRecord(v.custom_outputs) && typeof v.custom_outputs.traceId === 'string';

export function createApiClient(options: ApiClientOptions): ApiClient {
  // Without credentials a user may have put in it: the URL reaches errors and logs.
  const base = new URL(normaliseBaseUrl(options.baseUrl, 'promote API URL'));
  const basePath = base.pathname.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const chain = options.credentials ?? defaultProvider();
  const credentials = async () => {
    try {
      return typeof chain === 'function' ? await chain() : chain;
    } catch (cause) {
      // The chain's own messages name providers, never values; still, only ours is shown.
      throw new UnauthorizedError(
        'no AWS credentials found to sign the request with (looked in the environment, the shared ' +
          'config and credentials files, SSO, web identity, container and instance roles): configure ' +
          "some, e.g. with 'aws configure', 'aws sso login' or AWS_PROFILE.",
        { cause },
      );
    }
  };
  const signer =
    options.localPrincipal === undefined
      ? new SignatureV4({
          service: 'execute-api',
          region: requiredRegion(options.region),
          credentials,
          sha256: Hash.bind(null, 'sha256'),
        })
      : undefined;
  let agent: AgentType | undefined;
  const dispatcher = (): Dispatcher => {
    agent ??= new Agent({ connect: { timeout: timeoutMs } });
    return agent;
  };

  async function call(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    body: unknown,
    looksRight: (value: Record<string, unknown>) => boolean,
  ): Promise<unknown> {
    const fullPath = `${basePath}${path}`;
    const params = Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      host: base.host,
      accept: 'application/json',
      ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.localPrincipal !== undefined ? localPrincipalHeaders(options.localPrincipal) : {}),
    };
    const signed = await signer?.sign({
      method,
      protocol: base.protocol,
      hostname: base.hostname,
      ...(base.port ? { port: Number(base.port) } : {}),
      path: fullPath,
      query: Object.fromEntries(params),
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
    });
    const search = params.map(([k, v]) => `${escapeRfc3986(k)}=${escapeRfc3986(v)}`).join('&');
    let answer: Exchange;
    try {
      answer = await exchange(
        dispatcher(),
        {
          origin: base.origin,
          path: search ? `${fullPath}?${search}` : fullPath,
          method,
          headers: signed?.headers ?? headers,
          body: payload ?? null,
        },
        timeoutMs,
      );
    } catch (cause) {
      const reason =
        (cause as { name?: unknown } | null)?.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : noAnswerReason(cause);
      throw new UnavailableError(`The promote API at ${base.origin} did not answer (${reason}).`, { cause });
    }
    const { status, text, retryAfter: retryAfterHeader } = answer;
    if (status < 200 || status >= 300) {
      throw errorFromAnswer(status, text, parseRetryAfter(retryAfterHeader, Date.now()));
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new MalformedResponseError(`The promote API answered ${method} ${path} with non-JSON.`, {
        cause,
      });
    }
    if (!isRecord(json) || !looksRight(json)) {
      throw new MalformedResponseError(
        `The promote API's answer to ${method} ${path} has an unexpected shape.`,
      );
    }
    return json;
  }

  const promptPath = (name: string) => `/prompts/${encodeURIComponent(name)}`;
  const page = (q: PageQuery | undefined) => ({
    maxResults: q?.maxResults === undefined ? undefined : String(q.maxResults),
    pageToken: q?.pageToken,
  });

  return {
    promote: async (name, body) =>
      (await call('POST', `${promptPath(name)}/promote`, {}, body, looksLikeMove)) as MoveResponse,
    rollback: async (name, body) =>
      (await call('POST', `${promptPath(name)}/rollback`, {}, body, looksLikeMove)) as MoveResponse,
    describe: async (name, query) =>
      (await call('GET', promptPath(name), page(query), undefined, looksLikeDetails)) as PromptDetails,
    list: async (query) =>
      (await call('GET', '/prompts', page(query), undefined, looksLikeListing)) as PromptListing,
    startExperiment: async (name, body) =>
      (await call('POST', `${promptPath(name)}/experiment`, {}, body, looksLikeChange)) as ExperimentChange,
    stopExperiment: async (name, body) =>
      (await call('DELETE', `${promptPath(name)}/experiment`, {}, body, looksLikeChange)) as ExperimentChange,
    showExperiment: async (name) =>
      (await call(
        'GET',
        `${promptPath(name)}/experiment`,
        {},
        undefined,
        looksLikeExperiment,
      )) as ExperimentDetails,
    predict: async (body) =>
      (await call('POST', '/predict', {}, body, looksLikeAgentAnswer)) as Record<string, unknown>,
    close: async () => {
      await agent?.close();
    },
  };
}
