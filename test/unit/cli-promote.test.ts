/**
 * `promptops promote | rollback | history | prompts` against a loopback HTTP server that plays the
 * promote API: it checks every request's SigV4 signature on its own (scope, signed headers, body
 * hash, then a re-signature of what it received with the known test key) and answers canned
 * bodies, so the output and exit codes are tested without AWS. Credentials come through the real
 * AWS credential chain, from the process environment.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeMove } from '../../lib/cli/promote';
import { regionFromApiUrl } from '../../lib/http/signed-client';
import type { MoveResponse, PromptDetails, PromptListing } from '../../lib/promote/api';
import { type CliRun, runCli } from '../support/cli';

const REGION = 'eu-west-1';
const KEY_ID = 'AKIDPROMPTOPSTEST01';
const SECRET = 'wJalrSECRETpromptopsTESTkey/K7MDENG+bPxRfiCY';
const ALICE = 'arn:aws:iam::123456789012:user/alice';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** Why the signature was refused; undefined when it verified. */
  readonly signatureProblem: string | undefined;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

let server: Server;
let api: string;
let received: Received[];
let answer: (request: Received) => Answer;
const outputs: string[] = [];

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** 20240102T030405Z as a Date. */
function amzDate(text: string): Date {
  if (!/^\d{8}T\d{6}Z$/.test(text)) throw new Error(`bad x-amz-date '${text}'`);
  return new Date(
    `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 11)}:${text.slice(11, 13)}:${text.slice(13)}`,
  );
}

/** API Gateway's IAM check, done independently of the client: returns why it fails, if it does. */
async function verifySignature(req: IncomingMessage, body: string): Promise<string | undefined> {
  const auth = req.headers.authorization ?? '';
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return `malformed authorization header '${auth}'`;
  const [, keyId, day, region, service, signedList] = m as unknown as string[];
  if (keyId !== KEY_ID) return `unknown key ${keyId}`;
  if (region !== REGION || service !== 'execute-api') return `wrong scope ${region}/${service}`;
  const date = req.headers['x-amz-date'];
  if (typeof date !== 'string' || date.slice(0, 8) !== day) return 'x-amz-date missing or not the scope date';
  const signed = (signedList ?? '').split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-content-sha256']) {
    if (!signed.includes(required)) return `${required} is not signed`;
  }
  if (body !== '' && !signed.includes('content-type')) return 'content-type is not signed';
  if (req.headers['x-amz-content-sha256'] !== sha256Hex(body))
    return 'x-amz-content-sha256 is not the body hash';
  if (req.headers['x-amz-security-token'] !== undefined && !signed.includes('x-amz-security-token')) {
    return 'the session token is not signed';
  }
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const headers = Object.fromEntries(signed.map((h) => [h, String(req.headers[h] ?? '')]));
  const signer = new SignatureV4({
    service: 'execute-api',
    region: REGION,
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    sha256: Hash.bind(null, 'sha256'),
  });
  const again = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(body !== '' ? { body } : {}),
    },
    { signingDate: amzDate(date) },
  );
  return again.headers.authorization === auth ? undefined : 'signature mismatch';
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', async () => {
      // Like serverless-offline, a local request names its principal and is not signed.
      const local = req.headers['sls-offline-authorizer-override'] !== undefined;
      const signatureProblem = local
        ? req.headers.authorization === undefined
          ? undefined
          : 'a local request should not be signed'
        : await verifySignature(req, body);
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        signatureProblem,
      };
      received.push(request);
      // What API Gateway does with a bad signature, before any function runs.
      const reply: Answer = signatureProblem
        ? {
            status: 403,
            body: {
              message: 'The request signature we calculated does not match the signature you provided.',
            },
          }
        : answer(request);
      const problem = typeof (reply.body as { code?: unknown }).code === 'string';
      res.writeHead(reply.status, {
        'content-type': problem ? 'application/problem+json' : 'application/json',
        ...reply.headers,
      });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  // Nothing the CLI printed, in any test, carries the secret key.
  expect(outputs.join('\n')).not.toContain(SECRET);
  expect(outputs.length).toBeGreaterThan(10);
});

beforeEach(() => {
  received = [];
  answer = () => ({ status: 500, body: { message: 'no answer set' } });
  // The AWS credential chain reads the process environment: static keys, no profile or roles.
  for (const name of [
    'AWS_PROFILE',
    'AWS_SESSION_TOKEN',
    'AWS_DEFAULT_REGION',
    'PROMPTOPS_LOCAL_PRINCIPAL',
  ]) {
    vi.stubEnv(name, undefined);
  }
  for (const name of ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) {
    vi.stubEnv(name, undefined);
  }
  vi.stubEnv('AWS_WEB_IDENTITY_TOKEN_FILE', undefined);
  vi.stubEnv('PROMPTOPS_API_URL', undefined);
  vi.stubEnv('AWS_ACCESS_KEY_ID', KEY_ID);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', SECRET);
  vi.stubEnv('AWS_REGION', REGION);
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
});

afterEach(() => {
  vi.unstubAllEnvs();
});

async function cli(argv: string[]): Promise<CliRun> {
  const result = await runCli(argv, { ...process.env });
  outputs.push(result.stdout, result.stderr);
  return result;
}

function only(): Received {
  expect(received).toHaveLength(1);
  const [request] = received;
  if (!request) throw new Error('no request');
  expect(request.signatureProblem).toBeUndefined();
  return request;
}

const problem = (status: number, code: string, detail: string, extra: Record<string, unknown> = {}) => ({
  status,
  body: { type: `urn:promptops:problem:${code.toLowerCase()}`, title: 'x', status, detail, code, ...extra },
});

const moved: MoveResponse = {
  name: 'prompt_orchestrator',
  prompt: 'orchestrator',
  action: 'promote',
  alias: 'production',
  version: 4,
  previousVersion: 3,
  changed: true,
  by: ALICE,
  at: '2025-06-01T10:00:00.000Z',
};

describe('promptops promote', () => {
  it('sends a signed POST with the flags as the body and prints the move', async () => {
    answer = () => ({ status: 200, body: moved });
    const run = await cli([
      'promote',
      'orchestrator',
      '--api',
      api,
      '--from',
      'staging',
      '--expected-version',
      '3',
      '--reason',
      'Tighter tone',
    ]);
    expect(run).toEqual({
      code: 0,
      stdout: `orchestrator: production 3 → 4 (promoted by ${ALICE}; Tighter tone)\n`,
      stderr: '',
    });
    const request = only();
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/prompts/orchestrator/promote');
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({ from: 'staging', expectedVersion: 3, reason: 'Tighter tone' });
    expect(request.headers['sls-offline-authorizer-override']).toBeUndefined();
  });

  it('says when nothing changed, and sends a version number and expected none as typed', async () => {
    answer = () => ({ status: 200, body: { ...moved, previousVersion: 4, changed: false } });
    const run = await cli([
      'promote',
      'orchestrator',
      '--api',
      api,
      '--from',
      '4',
      '--expected-version',
      'none',
    ]);
    expect(run.stdout).toBe('orchestrator: production already at 4; nothing changed\n');
    expect(run.code).toBe(0);
    expect(JSON.parse(only().body)).toEqual({ from: 4, expectedVersion: null });
  });

  it('prints the answer as JSON with --json, keeps a stage path, and reads PROMPTOPS_API_URL', async () => {
    answer = () => ({ status: 200, body: moved });
    vi.stubEnv('PROMPTOPS_API_URL', `${api}/prod`);
    const run = await cli(['promote', 'orchestrator', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(moved);
    expect(only().url).toBe('/prod/prompts/orchestrator/promote');
    expect(only().body).toBe('{}');
  });

  it('sends no credentials a user put in the API URL, and never repeats the URL when it is not one', async () => {
    answer = () => ({ status: 200, body: moved });
    const withCredentials = api.replace('http://', 'http://someone:hunter2@');
    const run = await cli(['promote', 'orchestrator', '--api', `${withCredentials}/prod/?x=1#y`]);
    expect(run.code).toBe(0);
    expect(only().url).toBe('/prod/prompts/orchestrator/promote');
    expect(JSON.stringify(only().headers)).not.toContain('hunter2');
    const bad = await cli(['promote', 'orchestrator', '--api', 'http://someone:hunter2@[not a url']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('expects an http(s) URL; the one given is not a URL');
    expect(bad.stderr).not.toContain('hunter2');
  });

  it('signs the session token of temporary credentials', async () => {
    answer = () => ({ status: 200, body: moved });
    vi.stubEnv('AWS_SESSION_TOKEN', 'session-token-value');
    expect((await cli(['promote', 'orchestrator', '--api', api])).code).toBe(0);
    expect(only().headers['x-amz-security-token']).toBe('session-token-value');
  });

  it('adds the serverless-offline authorizer header only with --local-principal or its variable', async () => {
    answer = () => ({ status: 200, body: moved });
    await cli(['promote', 'orchestrator', '--api', api, '--local-principal', ALICE]);
    expect(only().headers['sls-offline-authorizer-override']).toBe(
      JSON.stringify({ iam: { userArn: ALICE } }),
    );
    received = [];
    vi.stubEnv('PROMPTOPS_LOCAL_PRINCIPAL', ALICE);
    await cli(['rollback', 'orchestrator', '--api', api]);
    expect(only().headers['sls-offline-authorizer-override']).toBe(
      JSON.stringify({ iam: { userArn: ALICE } }),
    );
    expect(only().signatureProblem).toBeUndefined();
  });

  it('sends local requests unsigned: no region and no AWS credentials needed', async () => {
    answer = () => ({ status: 200, body: moved });
    for (const name of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
    ])
      vi.stubEnv(name, '');
    vi.stubEnv('AWS_PROFILE', 'no-such-profile');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    const run = await cli(['promote', 'orchestrator', '--api', api, '--local-principal', ALICE]);
    expect(run.code).toBe(0);
    expect(only().headers.authorization).toBeUndefined();
    expect(only().headers['x-amz-date']).toBeUndefined();
  });
});

describe('refusals', () => {
  const promote = () => cli(['promote', 'orchestrator', '--api', api, '--expected-version', '2']);

  it('409: the conflict in one line, exit 1', async () => {
    const detail = "Alias 'production' of 'orchestrator' points at version 3, not version 2 as expected.";
    answer = () => problem(409, 'CONFLICT', detail);
    expect(await promote()).toEqual({ code: 1, stdout: '', stderr: `promptops: CONFLICT: ${detail}\n` });
  });

  it('409 MOVE_IN_PROGRESS: says when to retry', async () => {
    answer = () => ({
      ...problem(409, 'MOVE_IN_PROGRESS', 'Another move of production is in progress.'),
      headers: { 'retry-after': '2' },
    });
    const run = await promote();
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'promptops: MOVE_IN_PROGRESS: Another move of production is in progress.\n  retry after 2 s\n',
    );
  });

  it('403 from the function', async () => {
    const detail = `The alias 'production' is protected: ${ALICE} may not move it.`;
    answer = () => problem(403, 'FORBIDDEN', detail);
    expect(await promote()).toEqual({ code: 1, stdout: '', stderr: `promptops: FORBIDDEN: ${detail}\n` });
  });

  it('422: the variables the version needs; an unknown code is kept as the server sent it', async () => {
    const detail =
      "Version 5 of 'orchestrator' needs tone, which the agent does not supply (it supplies context, query).";
    answer = () => problem(422, 'MISSING_VARIABLES', detail);
    expect((await promote()).stderr).toBe(`promptops: MISSING_VARIABLES: ${detail}\n`);
    answer = () => problem(422, 'NOT_IN_CONTRACT', "'notes' is not one of the agent's prompts.");
    const run = await promote();
    expect(run.stderr).toBe("promptops: NOT_IN_CONTRACT: 'notes' is not one of the agent's prompts.\n");
    expect(run.code).toBe(1);
  });

  it('400: each refused field, named by its flag', async () => {
    answer = () =>
      problem(400, 'INVALID_INPUT', 'The request is invalid.', {
        errors: [
          { path: 'expectedVersion', message: 'expected a version number (a positive integer)' },
          { path: 'to', message: "The alias 'latest' (any case) is reserved." },
        ],
      });
    expect(await promote()).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'promptops: INVALID_INPUT: The request is invalid.\n' +
        '  --expected-version: expected a version number (a positive integer)\n' +
        "  --to: The alias 'latest' (any case) is reserved.\n",
    });
  });

  it('503 and 502: the code and detail, the request id for the log, exit 1', async () => {
    answer = () => ({
      ...problem(503, 'UNAVAILABLE', 'The prompt registry is unavailable; try again shortly.', {
        requestId: 'req-1',
      }),
      headers: { 'retry-after': '5' },
    });
    expect(await promote()).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'promptops: UNAVAILABLE: The prompt registry is unavailable; try again shortly.\n' +
        '  retry after 5 s\n  request id: req-1\n',
    });
    answer = () =>
      problem(502, 'INTERNAL', 'An internal error occurred; it has been logged.', { requestId: 'req-2' });
    expect((await promote()).stderr).toBe(
      'promptops: INTERNAL: An internal error occurred; it has been logged.\n  request id: req-2\n',
    );
  });

  it("a wrong secret fails the server's signature check: API Gateway's 403, exit 1", async () => {
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', `${SECRET}x`);
    const run = await promote();
    expect(received[0]?.signatureProblem).toBe('signature mismatch');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^promptops: FORBIDDEN: API Gateway answered HTTP 403: The request signature .* you provided\. The signature was refused/,
    );
  });

  it('no answer at all: UNAVAILABLE, exit 1', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const run = await cli(['promote', 'orchestrator', '--api', `http://127.0.0.1:${port}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^promptops: UNAVAILABLE: The promote API at http:\/\/127\.0\.0\.1:\d+ did not answer/,
    );
  });

  it('no AWS credentials: UNAUTHORIZED before any request', async () => {
    const home = mkdtempSync(join(tmpdir(), 'promptops-nocreds-'));
    writeFileSync(join(home, 'config'), '');
    writeFileSync(join(home, 'credentials'), '');
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', undefined);
    vi.stubEnv('AWS_PROFILE', 'promptops-no-such-profile');
    vi.stubEnv('HOME', home);
    vi.stubEnv('AWS_CONFIG_FILE', join(home, 'config'));
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(home, 'credentials'));
    const run = await promote();
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^promptops: UNAUTHORIZED: no AWS credentials found .*\n$/);
    expect(received).toHaveLength(0);
  });
});

describe('usage errors: exit 2 before any request', () => {
  const usage = async (argv: string[], message: string | RegExp) => {
    const run = await cli(argv);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toMatch(message);
    // The command's own usage and where the rest is, not the whole usage.
    expect(run.stderr).toContain("Run 'promptops --help' for every command and flag.");
    expect(run.stderr.split('\n').length).toBeLessThanOrEqual(6);
    expect(received).toHaveLength(0);
  };

  it('refuses what the API would refuse, naming the flag', async () => {
    await usage(['promote', 'orchestrator'], 'promptops: No API: pass --api URL or set PROMPTOPS_API_URL.');
    await usage(
      ['promote', 'orchestrator', '--api', api, '--expected-version', 'three'],
      'promptops: --expected-version: expected a version number (a positive integer)',
    );
    await usage(
      ['promote', 'orchestrator', '--api', api, '--expected-version', '0'],
      /--expected-version: expected a version/,
    );
    await usage(
      ['promote', 'orchestrator', '--api', api, '--to', 'latest'],
      /--to: The alias 'latest' .* is reserved/,
    );
    await usage(
      ['rollback', 'orchestrator', '--api', api, '--to-version', 'x'],
      /--to-version: expected a version/,
    );
    await usage(['history', 'orchestrator', '--api', api, '--limit', '0'], /--limit: /);
    await usage(['promote', 'orchestrator', '--api', api, '--reason', '  '], /--reason: /);
    await usage(['promote', 'a/b', '--api', api], /Invalid prompt name 'a\/b'/);
    await usage(['promote', '--api', api], 'promptops: promote takes exactly one prompt name.');
    await usage(
      ['promote', 'orchestrator', '--api', api, '--bogus'],
      "promptops: unknown flag '--bogus' for promote.",
    );
    await usage(
      ['promote', 'orchestrator', '--api', api, '--reaso', 'x'],
      "promptops: unknown flag '--reaso' for promote. Did you mean '--reason'?",
    );
  });

  it('needs a region, and keeps the local principal away from AWS', async () => {
    vi.stubEnv('AWS_REGION', undefined);
    await usage(
      ['prompts', '--api', 'https://promote.example.com'],
      'promptops: No region to sign for: pass --region or set AWS_REGION.',
    );
    // A local API: what it needs is the caller to play, not a region.
    await usage(
      ['prompts', '--api', api],
      /A local API needs the caller it should see: pass --local-principal/,
    );
    await usage(
      ['prompts', '--api', 'https://abc123.execute-api.eu-west-1.amazonaws.com', '--local-principal', ALICE],
      /--local-principal is for a local serverless-offline API/,
    );
    // A custom domain is no local API either: the request would go out unsigned.
    await usage(
      ['prompts', '--api', 'https://promote.example.com', '--local-principal', ALICE],
      /--local-principal is for a local serverless-offline API \(on loopback\) only/,
    );
    // Signed requests to a remote API go over https only.
    await usage(
      ['prompts', '--api', 'http://promote.example.com', '--region', 'eu-west-1'],
      /--api must be https/,
    );
  });

  it('takes the region from an execute-api URL', () => {
    expect(regionFromApiUrl('https://abc123.execute-api.eu-west-1.amazonaws.com/prod')).toBe('eu-west-1');
    expect(regionFromApiUrl('https://api.example.com')).toBeUndefined();
  });
});

describe('rollback, history, prompts', () => {
  it('rollback sends its flags and prints the move back', async () => {
    answer = () => ({ status: 200, body: { ...moved, action: 'rollback', version: 2, previousVersion: 4 } });
    const run = await cli([
      'rollback',
      'orchestrator',
      '--api',
      api,
      '--to-version',
      '2',
      '--reason',
      'bad answers',
    ]);
    expect(run.stdout).toBe(`orchestrator: production 4 → 2 (rolled back by ${ALICE}; bad answers)\n`);
    const request = only();
    expect(request.url).toBe('/prompts/orchestrator/rollback');
    expect(JSON.parse(request.body)).toEqual({ toVersion: 2, reason: 'bad answers' });
  });

  it('history prints aliases, the versions and each alias history newest first', async () => {
    const details: PromptDetails = {
      name: 'prompt_orchestrator',
      prompt: 'orchestrator',
      aliases: { production: 3, staging: 4 },
      latestVersion: 4,
      versions: [
        {
          version: 4,
          createdAt: '2025-06-02T09:00:00.000Z',
          commitMessage: 'Tighter tone',
          contentHash: `sha256:${'ab'.repeat(32)}`,
          aliases: ['staging'],
        },
        { version: 3, createdAt: null, commitMessage: null, contentHash: null, aliases: ['production'] },
      ],
      nextPageToken: 'older+1/=',
      history: {
        production: [
          {
            action: 'rollback',
            version: 3,
            previousVersion: 4,
            by: ALICE,
            at: '2025-06-03T08:00:00.000Z',
            reason: 'bad',
          },
          { action: 'promote', version: 4, previousVersion: 3, by: ALICE, at: '2025-06-02T10:00:00.000Z' },
        ],
      },
    };
    answer = () => ({ status: 200, body: details });
    const run = await cli([
      'history',
      'orchestrator',
      '--api',
      api,
      '--limit',
      '5',
      '--page-token',
      'p a+b/c=',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // A page token with reserved characters: sent escaped, signed as decoded.
    expect(only().url).toBe('/prompts/orchestrator?maxResults=5&pageToken=p%20a%2Bb%2Fc%3D');
    const lines = run.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'orchestrator (registry name: prompt_orchestrator)',
      'latest:  4',
      'aliases: production=3, staging=4',
    ]);
    expect(lines[4]).toMatch(/^version\s+created\s+content hash\s+commit message\s+aliases$/);
    expect(lines[6]).toMatch(/^4\s+2025-06-02 09:00:00Z\s+abababababab\s+Tighter tone\s+staging$/);
    expect(lines[7]).toMatch(/^3\s+-\s+-\s+-\s+production$/);
    expect(lines[8]).toBe('(older versions: --page-token older+1/=)');
    expect(lines[10]).toBe('production history, newest first:');
    expect(lines[13]).toMatch(
      /^2025-06-03 08:00:00Z\s+rollback\s+4 → 3\s+arn:aws:iam::123456789012:user\/alice\s+bad$/,
    );
    expect(lines[14]).toMatch(/^2025-06-02 10:00:00Z\s+promote\s+3 → 4\s+arn:\S+\s+-$/);
  });

  it('prompts lists the agent prompts, registered or not', async () => {
    const listing: PromptListing = {
      prompts: [
        {
          name: 'prompt_orchestrator',
          prompt: 'orchestrator',
          registered: true,
          aliases: { production: 3 },
          latestVersion: 4,
        },
        {
          name: 'prompt_cost_worker',
          prompt: 'cost_worker',
          registered: false,
          aliases: {},
          latestVersion: null,
        },
      ],
      nextPageToken: null,
    };
    answer = () => ({ status: 200, body: listing });
    const run = await cli(['prompts', '--api', api, '--limit', '10']);
    expect(run.code).toBe(0);
    expect(only().url).toBe('/prompts?maxResults=10');
    expect(only().method).toBe('GET');
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^prompt\s+registry name\s+latest\s+aliases$/);
    expect(lines[2]).toMatch(/^orchestrator\s+prompt_orchestrator\s+4\s+production=3$/);
    expect(lines[3]).toMatch(/^cost_worker\s+prompt_cost_worker \(not registered\)\s+-\s+-$/);
    expect(lines).toHaveLength(4);
  });

  it('an answer of the wrong shape is MALFORMED_RESPONSE, exit 1', async () => {
    answer = () => ({ status: 200, body: { hello: 'world' } });
    const run = await cli(['prompts', '--api', api]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^promptops: MALFORMED_RESPONSE: /);
  });
});

describe('promptops experiment start | show | stop', () => {
  const definition = {
    id: 'brevity',
    revision: 2,
    control: 'production',
    variants: [{ alias: 'candidate', weight_bp: 1_000 }],
    key: 'user',
    status: 'running',
    started_at: '2026-12-01T00:00:00.000Z',
    guardrails: [{ metric: 'error_rate', comparison: '<=', limit: 1, unit: 'pp' }],
  };
  const change = {
    prompt: 'orchestrator',
    name: 'prompt_orchestrator',
    action: 'start',
    changed: true,
    experiment: definition,
    previousRevision: 1,
    by: ALICE,
    at: '2026-12-06T09:00:00.000Z',
  };

  it('starts: a signed POST whose body says what the flags say, and prints the split', async () => {
    answer = () => ({ status: 200, body: change });
    const run = await cli([
      'experiment',
      'start',
      'orchestrator',
      '--api',
      api,
      '--id',
      'brevity',
      '--variant',
      'candidate=10%',
      '--guard',
      'error_rate<=+1pp',
      '--expected-revision',
      '1',
      '--reason',
      'shorter answers',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      'orchestrator: experiment start (revision 1 → 2)\n' +
        'experiment brevity (revision 2, running): control production, variants candidate 10%, by user\n' +
        'started 2026-12-01T00:00:00.000Z\nguardrails: error_rate<=+1pp\n',
    );
    const request = only();
    expect([request.method, request.url]).toEqual(['POST', '/prompts/orchestrator/experiment']);
    expect(JSON.parse(request.body)).toEqual({
      id: 'brevity',
      variants: [{ alias: 'candidate', weight_bp: 1_000 }],
      guardrails: 'error_rate<=+1pp',
      expectedRevision: 1,
      reason: 'shorter answers',
    });
  });

  it('starts a rollout without a share, and stops with a signed DELETE', async () => {
    answer = () => ({ status: 200, body: change });
    await cli([
      'experiment',
      'start',
      'orchestrator',
      '--api',
      api,
      '--id',
      'roll',
      '--variant',
      'candidate',
      '--rollout',
      '5, 25,50,100',
      '--guard',
      'error_rate<=+1pp',
      '--key',
      'session',
    ]);
    expect(JSON.parse(only().body)).toMatchObject({
      variants: [{ alias: 'candidate' }],
      rollout: { steps: [5, 25, 50, 100] },
      key: 'session',
    });
    received = [];
    answer = () => ({
      status: 200,
      body: { ...change, action: 'stop', experiment: { ...definition, revision: 3, status: 'halted' } },
    });
    const stopped = await cli(['experiment', 'stop', 'orchestrator', '--api', api, '--reason', 'done']);
    expect(stopped.stdout).toBe('orchestrator: experiment brevity stopped (revision 3)\n');
    const request = only();
    expect([request.method, request.url]).toEqual(['DELETE', '/prompts/orchestrator/experiment']);
    expect(JSON.parse(request.body)).toEqual({ reason: 'done' });
  });

  it('shows the experiment and its history, newest first', async () => {
    answer = () => ({
      status: 200,
      body: {
        prompt: 'orchestrator',
        name: 'prompt_orchestrator',
        experiment: definition,
        problem: null,
        aliases: { production: 3, candidate: 4 },
        history: [
          {
            action: 'change',
            id: 'brevity',
            revision: 2,
            weights: { candidate: 1_000 },
            by: ALICE,
            at: '2026-12-06T09:00:00.000Z',
          },
        ],
      },
    });
    const run = await cli(['experiment', 'show', 'orchestrator', '--api', api]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('experiment brevity (revision 2, running)');
    expect(run.stdout).toContain(`2026-12-06 09:00:00Z  change  brevity#2   candidate 10%  ${ALICE}`);
    expect(only().method).toBe('GET');
  });

  it('refuses bad flags before any request, naming them (exit 2)', async () => {
    const start = (...flags: string[]) => [
      'experiment',
      'start',
      'orchestrator',
      '--api',
      api,
      '--id',
      'x',
      ...flags,
    ];
    for (const [argv, message] of [
      [['experiment', 'start', 'orchestrator', '--api', api, '--variant', 'candidate=10%'], /needs --id/],
      [start(), /needs --variant/],
      [start('--variant', 'c=ten'), /alias=<share>%/],
      [start('--variant', 'c=1%', '--key', 'ip'), /--key/],
      [start('--variant', 'c', '--rollout', '5;100'), /--rollout expects/],
      [
        ['experiment', 'stop', 'orchestrator', '--api', api, '--expected-revision', 'two'],
        /--expected-revision/,
      ],
      [
        ['experiment', 'begin', 'orchestrator'],
        /experiment expects one of start, stop, show, report, got 'begin'/,
      ],
      [['experiment', 'constructor', 'orchestrator'], /experiment expects one of/],
      [['experiment', 'report', 'orchestrator', '--since', 'yesterday'], /--since expects/],
      [['experiment', 'report', 'orchestrator', '--latency', 'wall'], /--latency expects trace or model/],
    ] as const) {
      const run = await cli([...argv]);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.stderr.split('\n')[0], argv.join(' ')).toMatch(message);
    }
    expect(received).toHaveLength(0);
  });
});

describe('describeMove', () => {
  it('says a move found made outside promptops is now recorded, not that nothing changed', () => {
    const base = {
      name: 'p',
      prompt: 'orchestrator',
      action: 'promote' as const,
      alias: 'production',
      version: 4,
      by: 'arn:aws:iam::123456789012:user/ops',
      at: '2026-12-06T00:00:00.000Z',
    };
    expect(describeMove({ ...base, previousVersion: 3, changed: false, recordedOnly: true }, undefined)).toBe(
      'orchestrator: production already at 4; its move from 3, made outside promptops, is now recorded (by arn:aws:iam::123456789012:user/ops)\n',
    );
    expect(describeMove({ ...base, previousVersion: 4, changed: false }, undefined)).toBe(
      'orchestrator: production already at 4; nothing changed\n',
    );
  });
});
