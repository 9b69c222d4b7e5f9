/**
 * `promptops promote | rollback | history | prompts`: the promote API (functions/promote) from the
 * command line, signed with the caller's AWS credentials. Flags are checked with the API's own
 * schemas first, so what the server would refuse as malformed is a usage error before any request.
 */
import { parseArgs } from 'node:util';
import type * as z from 'zod';
import { InvalidInputError, isPromptOpsError, issueLines } from '../errors';
import { isLoopbackUrl } from '../http/base-url';
import { type ApiClient, createApiClient, problemOf, regionFromApiUrl } from '../http/signed-client';
import {
  describeQuerySchema,
  listQuerySchema,
  type MoveResponse,
  type PromptDetails,
  type PromptListing,
  parseRequest,
  promoteBodySchema,
  rollbackBodySchema,
} from '../promote/api';
import type { AliasMoveRecord } from '../promote/history';
import { validatePromptName } from '../prompts/names';
import { own } from '../util/own';
import { asUsage, type CliIo, commandLine, oneLine, UsageError } from './io';
import { httpTimeoutFromEnv } from './registry-from-env';
import { formatTable } from './summary';

type Handler = (args: readonly string[], io: CliIo) => Promise<number>;

export const COMMON = {
  api: { type: 'string' },
  region: { type: 'string' },
  'local-principal': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Body and query fields as the flags that set them, so refusals name what the user typed. */
const FLAG_OF: Readonly<Record<string, string>> = {
  from: '--from',
  to: '--to',
  expectedVersion: '--expected-version',
  reason: '--reason',
  alias: '--alias',
  toVersion: '--to-version',
  maxResults: '--limit',
  pageToken: '--page-token',
};

const defaultFlagOf = (path: string) => own(FLAG_OF, path) ?? (path || 'request');

/** The input as the schema accepts it, or a usage error naming each refused flag. */
export function checked<S extends z.ZodType>(
  schema: S,
  input: Record<string, unknown>,
  flagOf: (path: string) => string = defaultFlagOf,
): z.output<S> {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  try {
    return parseRequest(schema, defined, 'flags');
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    throw new UsageError(issueLines(error.issues, { name: flagOf }).join('; '));
  }
}

/** Digits become a number; anything else is left for the schema to refuse or accept as an alias. */
export const numberOr = (value: string | undefined) =>
  value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : value;

export function promptName(positionals: readonly string[], command: string): string {
  const [name, ...rest] = positionals;
  if (name === undefined || rest.length > 0)
    throw new UsageError(`${command} takes exactly one prompt name.`);
  return asUsage(() => validatePromptName(name));
}

export function clientFrom(
  values: { api?: string; region?: string; 'local-principal'?: string },
  env: NodeJS.ProcessEnv,
) {
  const api = values.api ?? env.PROMPTOPS_API_URL;
  if (!api) throw new UsageError('No API: pass --api URL or set PROMPTOPS_API_URL.');
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    // Not repeated: what was given may carry credentials.
    throw new UsageError('--api (or PROMPTOPS_API_URL) expects an http(s) URL; the one given is not a URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--api (or PROMPTOPS_API_URL) expects an http(s) URL, not ${url.protocol}.`);
  }
  const localPrincipal = values['local-principal'] ?? (env.PROMPTOPS_LOCAL_PRINCIPAL || undefined);
  // --region first; else the region an execute-api URL names (where its signatures are checked).
  const region = values.region ?? (regionFromApiUrl(api) || env.AWS_REGION || env.AWS_DEFAULT_REGION);
  // Local requests name their principal instead of being signed: they need no region.
  if (!region && localPrincipal === undefined) {
    throw new UsageError(
      isLoopbackUrl(api)
        ? 'A local API needs the caller it should see: pass --local-principal ARN or set PROMPTOPS_LOCAL_PRINCIPAL (or --region to sign as for AWS).'
        : 'No region to sign for: pass --region or set AWS_REGION.',
    );
  }
  if (region && !/^[a-z0-9-]+$/.test(region))
    throw new UsageError(`--region expects a region name, got '${region}'.`);
  const loopback = isLoopbackUrl(api);
  if (localPrincipal !== undefined) {
    if (!/^arn:\S+$/.test(localPrincipal)) {
      throw new UsageError(`--local-principal expects an ARN, got '${localPrincipal}'.`);
    }
    // Only a local serverless-offline API reads the header; anywhere else the request would go
    // unsigned and be refused, or suggest an identity it never has.
    if (!loopback) {
      throw new UsageError('--local-principal is for a local serverless-offline API (on loopback) only.');
    }
  } else if (url.protocol === 'http:' && !loopback) {
    // The host only: what was given may carry credentials (http://user:password@host).
    throw new UsageError(`--api must be https for a remote API, got http://${url.host}.`);
  }
  return createApiClient({ baseUrl: api, region, localPrincipal, timeoutMs: httpTimeoutFromEnv(env) });
}

/**
 * A failed call as the user sees it: `promptops: CODE: detail` with the server's code (it may be
 * one this CLI does not know yet), then the refused fields and when to retry.
 */
export function reportFailure(error: unknown, io: CliIo): number {
  if (!isPromptOpsError(error)) throw error;
  const problem = problemOf(error);
  const lines = [`promptops: ${problem?.code ?? error.code}: ${oneLine(problem?.detail ?? error.message)}`];
  for (const line of issueLines(error.issues, { name: defaultFlagOf })) lines.push(`  ${oneLine(line)}`);
  const wait = problem?.retryAfterMs;
  if (wait !== undefined) lines.push(`  retry after ${Math.ceil(wait / 1000)} s`);
  if (problem?.requestId && problem.status >= 500) lines.push(`  request id: ${problem.requestId}`);
  io.stderr(`${lines.join('\n')}\n`);
  return 1;
}

/** Runs one API call with a client from the flags; answers are printed as JSON or for people. */
export async function withClient<T>(
  values: Parameters<typeof clientFrom>[0] & { json?: boolean },
  io: CliIo,
  work: (client: ApiClient) => Promise<T>,
  describe: (answer: T) => string,
): Promise<number> {
  const client = clientFrom(values, io.env);
  try {
    const answer = await work(client);
    io.stdout(values.json ? `${JSON.stringify(answer, null, 2)}\n` : describe(answer));
    return 0;
  } catch (error) {
    return reportFailure(error, io);
  } finally {
    await client.close();
  }
}

export function describeMove(move: MoveResponse, reason: string | undefined): string {
  const who = move.prompt;
  if (move.recordedOnly) {
    return `${who}: ${move.alias} already at ${move.version}; its move from ${move.previousVersion ?? 'none'}, made outside promptops, is now recorded (by ${move.by})\n`;
  }
  if (!move.changed) return `${who}: ${move.alias} already at ${move.version}; nothing changed\n`;
  const verb = move.action === 'rollback' ? 'rolled back' : 'promoted';
  const from = move.previousVersion ?? 'none';
  return `${who}: ${move.alias} ${from} → ${move.version} (${verb} by ${move.by}${reason ? `; ${reason}` : ''})\n`;
}

const shortHash = (hash: string | null) => (hash ? hash.replace(/^sha256:/, '').slice(0, 12) : '-');
const shortTime = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
const clip = (text: string | null | undefined, max = 60) => {
  const line = oneLine(text ?? '');
  return line === '' ? '-' : line.length > max ? `${line.slice(0, max - 1)}…` : line;
};
const aliasList = (aliases: Readonly<Record<string, number>>) =>
  Object.entries(aliases)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([alias, version]) => `${alias}=${version}`)
    .join(', ') || '-';

function moveRow(entry: AliasMoveRecord): string[] {
  return [
    shortTime(entry.at),
    entry.action,
    `${entry.previousVersion ?? 'none'} → ${entry.version}`,
    entry.by,
    clip(entry.reason),
  ];
}

export { clip, shortTime };

export function describeDetails(details: PromptDetails): string {
  const parts = [
    `${details.prompt || details.name} (registry name: ${details.name})\n` +
      `latest:  ${details.latestVersion ?? '-'}\naliases: ${aliasList(details.aliases)}`,
  ];
  parts.push(
    details.versions.length === 0
      ? 'no versions'
      : formatTable(
          ['version', 'created', 'content hash', 'commit message', 'aliases'],
          details.versions.map((v) => [
            String(v.version),
            shortTime(v.createdAt),
            shortHash(v.contentHash),
            clip(v.commitMessage),
            [...v.aliases].sort().join(', ') || '-',
          ]),
        ) + (details.nextPageToken ? `\n(older versions: --page-token ${details.nextPageToken})` : ''),
  );
  for (const alias of Object.keys(details.history).sort()) {
    const entries = details.history[alias] ?? [];
    if (entries.length === 0) continue;
    parts.push(
      `${alias} history, newest first:\n${formatTable(['at', 'action', 'move', 'by', 'reason'], entries.map(moveRow))}`,
    );
  }
  return `${parts.join('\n\n')}\n`;
}

export function describeListing(listing: PromptListing): string {
  const table = formatTable(
    ['prompt', 'registry name', 'latest', 'aliases'],
    listing.prompts.map((p) => [
      p.prompt,
      p.registered ? p.name : `${p.name} (not registered)`,
      p.latestVersion === null ? '-' : String(p.latestVersion),
      aliasList(p.aliases),
    ]),
  );
  return `${table}\n${listing.nextPageToken ? `(more: --page-token ${listing.nextPageToken})\n` : ''}`;
}

/** Parses `args` with the common flags and `own`; the one positional is the prompt's name. */
function commandArgs<O extends Record<string, { type: 'string' }>>(
  args: readonly string[],
  own: O,
  verb: string,
) {
  const { values, positionals } = commandLine(args, { ...COMMON, ...own });
  return { values, name: promptName(positionals, verb) };
}

/** Sends a move, and describes what it did with its reason. */
function sendMove(
  values: Parameters<typeof withClient>[0],
  io: CliIo,
  reason: string | undefined,
  send: (client: ApiClient) => Promise<MoveResponse>,
): Promise<number> {
  return withClient(values, io, send, (move) => describeMove(move, reason));
}

const promote: Handler = async (args, io) => {
  const { values, name } = commandArgs(
    args,
    {
      from: { type: 'string' },
      to: { type: 'string' },
      'expected-version': { type: 'string' },
      reason: { type: 'string' },
    },
    'promote',
  );
  const expected = values['expected-version'];
  const body = checked(promoteBodySchema, {
    from: numberOr(values.from),
    to: values.to,
    expectedVersion: expected === 'none' ? null : numberOr(expected),
    reason: values.reason,
  });
  return sendMove(values, io, body.reason, (client) => client.promote(name, body));
};

const rollback: Handler = async (args, io) => {
  const { values, name } = commandArgs(
    args,
    { alias: { type: 'string' }, 'to-version': { type: 'string' }, reason: { type: 'string' } },
    'rollback',
  );
  const body = checked(rollbackBodySchema, {
    alias: values.alias,
    toVersion: numberOr(values['to-version']),
    reason: values.reason,
  });
  return sendMove(values, io, body.reason, (client) => client.rollback(name, body));
};

const history: Handler = async (args, io) => {
  const paging = { limit: { type: 'string' }, 'page-token': { type: 'string' } } as const;
  const { values, name } = commandArgs(args, paging, 'history');
  const query = checked(describeQuerySchema, { maxResults: values.limit, pageToken: values['page-token'] });
  return withClient(values, io, (client) => client.describe(name, query), describeDetails);
};

const prompts: Handler = async (args, io) => {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { ...COMMON, limit: { type: 'string' }, 'page-token': { type: 'string' } },
  });
  if (positionals.length > 0) throw new UsageError('prompts takes no arguments.');
  const query = checked(listQuerySchema, { maxResults: values.limit, pageToken: values['page-token'] });
  return withClient(values, io, (client) => client.list(query), describeListing);
};

export const PROMOTE_COMMANDS: Readonly<Record<string, Handler>> = { promote, rollback, history, prompts };
