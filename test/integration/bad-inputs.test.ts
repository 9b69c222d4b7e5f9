/**
 * A corpus of bad inputs across every entry point: the CLI (its arguments and prompt files), S3
 * events to the register function, the promote API's bodies, paths and queries (its experiment
 * routes too), predict's and feedback's bodies, verify's options, the registry secret's contents
 * and the functions' configuration. Each case is a real run through its entry point (the CLI's
 * `run`, a handler with an event as AWS shapes it, the configuration parser a cold start runs),
 * against the real MLflow server and moto's S3, Secrets Manager and DynamoDB. Each must be
 * refused clearly (a 4xx, exit 1 or 2, or for register and verify a refusal logged with a stable
 * code) within 15 s, in at most 5 lines saying what is wrong, with no stack trace and no secret
 * value (nor its base64), and with the registry as it was: the state under the corpus's own prefix
 * (every prompt, version, alias and tag) is read after each case and compared.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assemblePredict } from '../../functions/predict/assemble';
import { FEEDBACK_ROUTE, ROUTE as PREDICT_ROUTE } from '../../functions/predict/core';
import { createRegisterHandler } from '../../functions/register/core';
import { createVerifyHandler } from '../../functions/verify/core';
import { MAX_QUERY_CHARS } from '../../lib/agent/chat-agent';
import { parsePredictEnv } from '../../lib/config/predict-env';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { parseRegisterEnv } from '../../lib/config/register-env';
import { parseRolloutEnv } from '../../lib/config/rollout-env';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { ConfigError, isPromptOpsError } from '../../lib/errors';
import { MAX_REASON_LENGTH } from '../../lib/promote/move-alias';
import type { NamingOptions } from '../../lib/prompts/naming';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { createRuntime } from '../../lib/runtime/invocation';
import { createLockTable } from '../../local/lock-table';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import {
  type BadInput,
  describeVerdicts,
  type Entry,
  judge,
  type Outcome,
  registryState,
  secretMarkers,
  stateChange,
  type Verdict,
} from '../support/bad-inputs';
import { runCli } from '../support/cli';
import { httpApiEvent } from '../support/http-api-event';
import { promoteHandler } from '../support/promote-handler';
import { s3Event } from '../support/s3-events';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const awsEnv = awsEnvFor(motoUri);

// Distinctive secret values: none of them, nor its base64, may appear in anything a case shows.
const RUN = randomUUID();
const TOKEN = `dapi-CORPUS-SECRET-${RUN}`;
const USER = 'corpus-operator';
const PASSWORD = `pw-CORPUS-SECRET-${RUN}`;
const API_KEY = `sk-CORPUS-SECRET-${RUN}`;
const CLIENT_SECRET = `dose-CORPUS-SECRET-${RUN}`;
const markers = secretMarkers({
  token: TOKEN,
  password: PASSWORD,
  'basic-auth credentials': `${USER}:${PASSWORD}`,
  'model API key': API_KEY,
  'client secret': CLIENT_SECRET,
});

const ADMIN = 'arn:aws:sts::123456789012:assumed-role/release-managers/alice';
const DEVELOPER = 'arn:aws:iam::123456789012:user/bob';
const bucket = `corpus-${RUN.slice(0, 8)}`;
const table = `corpus-locks-${RUN.slice(0, 8)}`;
const NOW = new Date('2026-12-06T09:00:00.000Z');
const context = () => ({ awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 29_000 });

let s3: S3Client;
let secretsManager: SecretsManagerClient;
let dynamodb: DynamoDBClient;
let registry: RegistryClient;
let naming: NamingOptions;
let prefix: string;
/** The registry secret every case uses unless it is about the secret: a token, the model's key. */
let secretId: string;
/** The same registry with basic auth, for the entry points that read credentials from it. */
let basicSecretId: string;
let promptDir: string;

// ---------------------------------------------------------------------------------------------
// Each entry point, run as AWS or a shell runs it, reduced to what its user sees.

const jsonLines = (logs: readonly string[]) =>
  logs.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { message: line };
    }
  });

const errorText = (error: unknown) =>
  error instanceof Error
    ? `${error.name}: ${error.message} ${JSON.stringify((error as { issues?: unknown }).issues ?? [])}`
    : String(error);

/** An HTTP API answer: a 4xx problem with a code and a detail is the refusal. */
function httpOutcome(response: APIGatewayProxyStructuredResultV2, logs: readonly string[]): Outcome {
  const status = response.statusCode ?? 0;
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(response.body ?? 'null') ?? {};
  } catch {
    body = { unparsed: response.body };
  }
  const problem = response.headers?.['content-type'] === 'application/problem+json';
  return {
    refused: status >= 400 && status < 500 && problem && typeof body.code === 'string',
    status: `HTTP ${status} ${String(body.code ?? '')}`.trim(),
    message: typeof body.detail === 'string' ? body.detail : '',
    output: `${JSON.stringify(response)}\n${logs.join('\n')}`,
  };
}

function promoteApi() {
  const logs: string[] = [];
  const handler = promoteHandler({ secretId, prefix, table, secretsManager, dynamodb, logs, now: NOW });
  return { handler, logs };
}

interface ApiCall {
  readonly routeKey: string;
  readonly name?: string | undefined;
  readonly body?: unknown;
  readonly rawBody?: string;
  readonly query?: Record<string, string>;
  readonly principal?: string | null;
  readonly isBase64Encoded?: boolean;
}

function apiEvent(call: ApiCall) {
  const event = httpApiEvent({
    routeKey: call.routeKey,
    rawPath: '/',
    principal: call.principal === undefined ? ADMIN : call.principal,
    pathParameters: call.name === undefined ? undefined : { name: call.name },
    query: call.query,
    body: call.body,
    rawBody: call.rawBody,
  });
  return call.isBase64Encoded ? { ...event, isBase64Encoded: true } : event;
}

async function throughPromote(call: ApiCall | { readonly event: unknown }): Promise<Outcome> {
  const { handler, logs } = promoteApi();
  const event = 'event' in call ? call.event : apiEvent(call);
  return httpOutcome(await handler(event, context()), logs);
}

async function throughPredict(call: Omit<ApiCall, 'routeKey'> & { routeKey?: string }): Promise<Outcome> {
  const logs: string[] = [];
  const env = parsePredictEnv({
    PROMPTOPS_SECRET_ID: secretId,
    PROMPT_NAME_PREFIX: prefix,
    PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
  });
  const runtime = createRuntime(env, { functionName: 'predict', secretsManager, write: (l) => logs.push(l) });
  const handler = assemblePredict(env, runtime, { snapshot: () => undefined });
  const event = apiEvent({ ...call, routeKey: call.routeKey ?? PREDICT_ROUTE });
  return httpOutcome(await handler(event, context()), logs);
}

const throughFeedback = (call: Omit<ApiCall, 'routeKey'>) =>
  throughPredict({ ...call, routeKey: FEEDBACK_ROUTE });

/**
 * The register function with an S3 event. A file or event that is itself wrong must be refused
 * or ignored without failing the invocation (a failed invocation is retried by Lambda, and no
 * retry can cure it): an upload refused is logged ('upload refused', its code and reason) and
 * counted as UploadRefused; one ignored is logged with its reason ('upload ignored'); an event
 * refused as a whole is logged at WARN or ERROR with a code and a reason.
 * With `retry`, the fault is the deployment's (the secret): the invocation must fail with the
 * stable code, logged, so that the upload is retried once the secret is fixed rather than lost.
 */
async function throughRegister(
  event: unknown,
  { secret = basicSecretId, retry = false }: { secret?: string; retry?: boolean } = {},
): Promise<Outcome> {
  const logs: string[] = [];
  const env = parseRegisterEnv({
    PROMPTOPS_SECRET_ID: secret,
    PROMPTS_BUCKET: bucket,
    PROMPTS_PREFIX: 'prompts/',
    PROMPT_NAME_PREFIX: prefix,
    PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
  });
  const runtime = createRuntime(env, {
    functionName: 'register',
    secretsManager,
    write: (l) => logs.push(l),
  });
  const handler = createRegisterHandler({ env, runtime, s3 });
  let summary: Awaited<ReturnType<typeof handler>> | undefined;
  let thrown: unknown;
  try {
    summary = await handler(event, context());
  } catch (error) {
    thrown = error;
  }
  const lines = jsonLines(logs);
  const output = `${logs.join('\n')}\n${thrown === undefined ? JSON.stringify(summary) : errorText(thrown)}`;
  if (thrown !== undefined) {
    const code = isPromptOpsError(thrown) ? thrown.code : undefined;
    const logged = lines.some(
      (l) => l.message === 'invocation failed' && (l.error as { code?: unknown } | undefined)?.code === code,
    );
    return {
      refused: retry && code === 'INVALID_SECRET' && logged,
      status: `the invocation failed with ${code ?? (thrown as Error)?.name}${retry ? '' : ' (Lambda retries it, though no retry can cure it)'}`,
      message: thrown instanceof Error ? thrown.message : String(thrown),
      output,
    };
  }
  const results = summary?.results ?? [];
  const failed = results.filter((r) => r.status === 'failed');
  const refusedLines = lines.filter((l) => l.message === 'upload refused');
  const ignoredLines = lines.filter((l) => l.message === 'upload ignored');
  // A refusal of the event itself (not of one upload): any line with a stable code and a reason.
  const eventLines = lines.filter(
    (l) =>
      l.message !== 'upload refused' &&
      (l.level === 'WARN' || l.level === 'ERROR') &&
      typeof l.code === 'string' &&
      typeof l.reason === 'string',
  );
  const counted = lines.some((l) => 'UploadRefused' in l);
  const refusedClearly =
    failed.length > 0 &&
    failed.every((r) => r.status === 'failed' && r.permanent) &&
    refusedLines.length === failed.length &&
    refusedLines.every((l) => typeof l.code === 'string' && typeof l.reason === 'string') &&
    counted;
  const ignoredOrEventRefused =
    results.length === 0 &&
    ignoredLines.length === (summary?.ignored ?? 0) &&
    ignoredLines.every((l) => typeof l.reason === 'string') &&
    ignoredLines.length + eventLines.length > 0;
  return {
    refused: !retry && (refusedClearly || ignoredOrEventRefused),
    status:
      failed.length > 0
        ? `refused ${failed.map((r) => (r.status === 'failed' ? `${r.code}${r.permanent ? '' : ' (transient)'}` : '')).join(', ')}`
        : eventLines.length > 0
          ? `event refused ${eventLines.map((l) => String(l.code)).join(', ')}`
          : (summary?.ignored ?? 0) > 0
            ? `ignored ${summary?.ignored}`
            : `accepted: ${results.map((r) => r.status).join(', ') || 'nothing done, nothing logged'}`,
    message: [
      ...refusedLines.map((l) => `${String(l.code)}: ${String(l.reason)}`),
      ...eventLines.map((l) => `${String(l.code)}: ${String(l.reason)}`),
      ...ignoredLines.map((l) => `ignored: ${String(l.reason)}`),
    ].join('\n'),
    output,
  };
}

async function putObject(key: string, body: string | Uint8Array): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** A file put under prompts/ and its ObjectCreated event sent to the register function. */
async function upload(key: string, body: string | Uint8Array): Promise<Outcome> {
  await putObject(key, body);
  return throughRegister(s3Event([{ bucket, key }]));
}

/**
 * The verify function, scheduled: a registry it cannot use is one failed check with a stable
 * code, logged as the run's report; the invocation itself never fails (an alarm, not a retry).
 */
async function throughVerify(secret: string, extraEnv: Record<string, string> = {}): Promise<Outcome> {
  const logs: string[] = [];
  const env = parseVerifyEnv({
    PROMPTOPS_SECRET_ID: secret,
    PROMPT_NAME_PREFIX: prefix,
    PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
    ...extraEnv,
  });
  const runtime = createRuntime(env, { functionName: 'verify', secretsManager, write: (l) => logs.push(l) });
  let result: Awaited<ReturnType<ReturnType<typeof createVerifyHandler>>>;
  try {
    result = await createVerifyHandler({ env, runtime })({}, context());
  } catch (error) {
    return {
      refused: false,
      status: `the invocation failed: ${errorText(error)}`,
      message: '',
      output: `${logs.join('\n')}\n${errorText(error)}`,
    };
  }
  const failed = result.checks.filter((c) => c.status === 'fail');
  const reported = jsonLines(logs).some((l) => l.message === 'verify failed' && l.level === 'ERROR');
  return {
    refused: !result.ok && failed.length > 0 && reported,
    status: result.ok
      ? 'verify passed'
      : `verify failed: ${[...new Set(failed.map((c) => c.code))].join(', ')}`,
    message: failed.map((c) => `${c.code}: ${c.message}`).join('\n'),
    output: `${logs.join('\n')}\n${JSON.stringify(result)}`,
  };
}

/** A function's configuration as its cold start parses it: refused with INVALID_CONFIG, naming the variable. */
function throughConfig(parse: (env: NodeJS.ProcessEnv) => unknown, env: NodeJS.ProcessEnv): Outcome {
  try {
    parse(env);
    return { refused: false, status: 'accepted', message: '', output: '' };
  } catch (error) {
    return {
      refused: error instanceof ConfigError && error.code === 'INVALID_CONFIG',
      status: `the cold start failed with ${isPromptOpsError(error) ? error.code : (error as Error)?.name}`,
      message: error instanceof Error ? error.message : String(error),
      output: errorText(error),
    };
  }
}

/**
 * The CLI's text without its usage synopsis (the `usage:` block, copied from --help) and the
 * pointer to --help: reference for the reader, not the message saying what is wrong.
 */
function cliMessage(text: string): string {
  const kept: string[] = [];
  let inUsage = false;
  for (const line of text.split('\n')) {
    if (line === 'usage:') {
      inUsage = true;
      continue;
    }
    if (inUsage && line.startsWith('  ')) continue;
    inUsage = false;
    if (line.startsWith("Run 'promptops --help'")) continue;
    kept.push(line);
  }
  return kept.join('\n');
}

/** The environment a CLI user has: the registry, its token, the naming, AWS for --secret-id. */
const cliEnv = (): NodeJS.ProcessEnv => ({
  ...awsEnv,
  MLFLOW_TRACKING_URI: mlflowUri,
  MLFLOW_TRACKING_TOKEN: TOKEN,
  PROMPT_NAME_PREFIX: prefix,
  PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
});

async function throughCli(argv: readonly string[], env: NodeJS.ProcessEnv = cliEnv()): Promise<Outcome> {
  const run = await runCli(argv, env);
  return {
    refused: run.code === 1 || run.code === 2,
    status: `exit ${run.code}`,
    message: cliMessage(`${run.stderr}${run.stdout}`),
    output: `${run.stdout}\n${run.stderr}`,
  };
}

/** A prompt file in a directory of its own, for `promptops register`. */
async function promptFile(file: string, content: string | Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(promptDir, 'case-'));
  await writeFile(join(dir, file), content);
  return dir;
}

/** `promptops register DIR` with one bad file, under the corpus's prefix. */
async function registerFile(file: string, content: string | Uint8Array): Promise<Outcome> {
  return throughCli(['register', await promptFile(file, content), '--prefix', prefix]);
}

/** A secret of its own holding `value` (JSON unless a string is given as `raw`). */
async function secretHolding(value: unknown, raw?: string): Promise<string> {
  if (raw === undefined) return makeSecret(secretsManager, value);
  const name = `promptops/corpus/${randomUUID()}`;
  await secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: raw }));
  return name;
}

// ---------------------------------------------------------------------------------------------
// The corpus.

const cases: BadInput[] = [];
const add = (entry: Entry, name: string, run: () => Promise<Outcome>, expect: Partial<BadInput> = {}) =>
  cases.push({ entry, name, run, ...expect });

const ORCHESTRATOR = 'Route {{query}} with {{context}}.';
const frontMatter = (fields: string, body = 'Route {{ query }} with {{ context }}.') =>
  `---\n${fields}\n---\n${body}\n`;
const GOOD_FIELDS = 'variables: [query, context]';
const notUtf8 = Buffer.concat([
  Buffer.from(`---\n${GOOD_FIELDS}\n---\nRoute {{ query }} {{ context }} caf`),
  Buffer.from([0xe9, 0x0a]),
]);
const huge = frontMatter(GOOD_FIELDS, `Route {{ query }} {{ context }} ${'x'.repeat(300 * 1024)}`);
const aliasBomb = frontMatter(
  [
    'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
    'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
    'f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
    GOOD_FIELDS,
  ].join('\n'),
);

// --- The CLI: arguments ----------------------------------------------------------------------
add('cli', 'an unknown command', () => throughCli(['frobnicate']), { says: /unknown command 'frobnicate'/ });
add('cli', 'a mistyped command', () => throughCli(['promot', 'orchestrator']), {
  says: /Did you mean 'promote'/,
});
add('cli', "Object's 'constructor' as a command", () => throughCli(['constructor']), {
  says: /unknown command/,
});
add('cli', "'__proto__' as an experiment subcommand", () => throughCli(['experiment', '__proto__', 'x']), {
  says: /__proto__|experiment/,
});
add('cli', 'an unknown flag', () => throughCli(['show', 'orchestrator', '--bogus']), {
  says: /unknown flag '--bogus'/,
});
add('cli', 'a mistyped flag', () => throughCli(['register', '--dryrun']), {
  says: /Did you mean '--dry-run'/,
});
add('cli', 'show without its URI', () => throughCli(['show']), { says: /exactly one prompt URI/ });
add('cli', 'show with two URIs', () => throughCli(['show', 'a', 'b']), { says: /exactly one prompt URI/ });
add('cli', 'a malformed prompt URI', () => throughCli(['show', 'prompts:/bad name/1']), {
  says: /Invalid prompt name/,
});
add(
  'cli',
  'a URI with a path traversal',
  () => throughCli(['show', 'prompts:/../../etc/passwd@production']),
  {
    says: /prompt|URI|name/i,
  },
);
add('cli', 'a URI naming version 0', () => throughCli(['show', `prompts:/${'x'}/0`]), { says: /version/ });
add('cli', 'a --var without =', () => throughCli(['format', 'prompts:/x/1', '--var', 'novalue']), {
  says: /--var expects key=value, got 'novalue'/,
});
add('cli', 'a --var with an empty key', () => throughCli(['format', 'prompts:/x/1', '--var', '=x']), {
  says: /--var expects key=value/,
});
add(
  'cli',
  'format with a variable missing',
  () =>
    throughCli([
      'format',
      `prompts:/PREFIX/1`.replace('PREFIX', `${prefix}orchestrator`),
      '--var',
      'query=x',
    ]),
  { says: /MISSING_VARIABLES.*context/ },
);
add(
  'cli',
  'show of a prompt that does not exist',
  () => throughCli(['show', `prompts:/${prefix}nothing@production`]),
  {
    says: /NOT_FOUND/,
  },
);
add(
  'cli',
  'show of an alias that does not exist',
  () => throughCli(['show', `prompts:/${prefix}orchestrator@canary`]),
  {
    says: /NOT_FOUND|canary/,
  },
);
add('cli', '--concurrency 0', () => throughCli(['register', '--concurrency', '0']), {
  says: /--concurrency expects a positive integer, got '0'/,
});
add('cli', '--concurrency as a word', () => throughCli(['register', '--concurrency', 'many']), {
  says: /--concurrency expects a positive integer/,
});
add(
  'cli',
  'a prefix that cannot be part of a name',
  () => throughCli(['register', '--prefix', 'bad prefix!']),
  {
    says: /name|prefix/i,
  },
);
add('cli', '--catalog without --schema', () => throughCli(['register', '--catalog', 'main']), {
  says: /catalog and the schema/,
});
add(
  'cli',
  '--tracking-uri and --secret-id together',
  () => throughCli(['register', '--secret-id', 's', '--tracking-uri', mlflowUri]),
  {
    says: /either --tracking-uri or --secret-id/,
  },
);
add('cli', 'an empty --secret-id', () => throughCli(['register', '--secret-id', ' ']), {
  says: /--secret-id expects/,
});
add('cli', 'no registry at all', () => throughCli(['show', 'x'], {}), { says: /MLFLOW_TRACKING_URI/ });
add(
  'cli',
  'PROMPTOPS_HTTP_TIMEOUT_MS not a number',
  () => throughCli(['show', 'x'], { ...cliEnv(), PROMPTOPS_HTTP_TIMEOUT_MS: 'soon' }),
  {
    says: /PROMPTOPS_HTTP_TIMEOUT_MS must be a positive integer/,
  },
);
add(
  'cli',
  'an unsupported MLFLOW_REGISTRY_URI',
  () => throughCli(['show', 'x'], { ...cliEnv(), MLFLOW_REGISTRY_URI: 'sqlite:///x.db' }),
  {
    says: /MLFLOW_REGISTRY_URI/,
  },
);
add(
  'cli',
  'a register path that does not exist',
  () => throughCli(['register', '/nonexistent/prompts', '--prefix', prefix]),
  {
    says: /no such file/,
  },
);
add(
  'cli',
  'a directory without prompt files',
  async () => throughCli(['register', await promptFile('README.txt', 'no prompts'), '--prefix', prefix]),
  {
    says: /no prompt files/,
  },
);
add('cli', 'promote without a name', () => throughCli(['promote']), { says: /exactly one prompt name/ });
add('cli', 'promote of an invalid prompt name', () => throughCli(['promote', '../etc/passwd']), {
  says: /Invalid prompt name/,
});
add(
  'cli',
  '--expected-version as a word',
  () => throughCli(['promote', 'orchestrator', '--expected-version', 'latest']),
  {
    says: /--expected-version/,
  },
);
add('cli', '--from 1.5', () => throughCli(['promote', 'orchestrator', '--from', '1.5']), { says: /--from/ });
add('cli', '--to latest', () => throughCli(['promote', 'orchestrator', '--to', 'latest']), {
  says: /latest/,
});
add(
  'cli',
  'an over-long --reason',
  () => throughCli(['promote', 'orchestrator', '--reason', 'r'.repeat(MAX_REASON_LENGTH + 1)]),
  {
    says: /--reason/,
  },
);
add('cli', 'rollback --to-version 0', () => throughCli(['rollback', 'orchestrator', '--to-version', '0']), {
  says: /--to-version/,
});
add('cli', 'history --limit ten', () => throughCli(['history', 'orchestrator', '--limit', 'ten']), {
  says: /--limit: expected a positive integer/,
});
add('cli', 'prompts --limit 0', () => throughCli(['prompts', '--limit', '0']), { says: /--limit/ });
add(
  'cli',
  '--api that is not a URL',
  () => throughCli(['prompts', '--api', 'not a url', '--region', 'us-east-1']),
  {
    says: /--api .*expects an http\(s\) URL/,
  },
);
add(
  'cli',
  '--api with ftp',
  () => throughCli(['prompts', '--api', 'ftp://api.example.com', '--region', 'us-east-1']),
  {
    says: /ftp/,
  },
);
add(
  'cli',
  '--api over plain http with a password in it',
  () =>
    throughCli(['prompts', '--api', `http://${USER}:${PASSWORD}@api.example.com/`, '--region', 'us-east-1']),
  { says: /https/ },
);
add(
  'cli',
  'a --region that is not one',
  () => throughCli(['prompts', '--api', 'https://api.example.com', '--region', 'EU WEST']),
  {
    says: /--region expects a region name/,
  },
);
add(
  'cli',
  '--local-principal that is not an ARN',
  () => throughCli(['prompts', '--api', 'http://127.0.0.1:9', '--local-principal', 'alice']),
  {
    says: /--local-principal expects an ARN/,
  },
);
add(
  'cli',
  'experiment start without --id',
  () => throughCli(['experiment', 'start', 'orchestrator', '--variant', 'candidate=10%']),
  {
    says: /needs --id/,
  },
);
add(
  'cli',
  'experiment --variant with a bad share',
  () => throughCli(['experiment', 'start', 'orchestrator', '--id', 'x', '--variant', 'candidate=lots']),
  {
    says: /--variant expects alias=<share>%/,
  },
);
add(
  'cli',
  'experiment with four variants',
  () =>
    throughCli([
      'experiment',
      'start',
      'orchestrator',
      '--id',
      'x',
      ...['a', 'b', 'c', 'd'].flatMap((v) => ['--variant', `${v}=5%`]),
    ]),
  { says: /1 to 3 variants/ },
);
add(
  'cli',
  'experiment --guard that does not parse',
  () =>
    throughCli([
      'experiment',
      'start',
      'orchestrator',
      '--id',
      'x',
      '--variant',
      'candidate=10%',
      '--guard',
      'error_rate<=lots',
      '--api',
      'http://127.0.0.1:9',
      '--local-principal',
      ADMIN,
    ]),
  {
    says: /--guard|error_rate<=lots/,
  },
);
add(
  'cli',
  'experiment --rollout with a word',
  () =>
    throughCli([
      'experiment',
      'start',
      'orchestrator',
      '--id',
      'x',
      '--variant',
      'candidate',
      '--rollout',
      '5,half,100',
    ]),
  {
    says: /--rollout expects percentages/,
  },
);
add(
  'cli',
  'experiment report --since yesterday',
  () => throughCli(['experiment', 'report', 'orchestrator', '--since', 'yesterday']),
  {
    says: /--since/,
  },
);
add(
  'cli',
  'feedback on something that is not a trace id',
  () => throughCli(['feedback', 'abc', '--value', 'up']),
  {
    says: /trace id/,
  },
);
add(
  'cli',
  'feedback with a value that is not one',
  () => throughCli(['feedback', `tr-${'a'.repeat(32)}`, '--value', 'meh']),
  {
    says: /--value expects up, down or a number, got 'meh'/,
  },
);
add('cli', 'feedback without --value', () => throughCli(['feedback', `tr-${'a'.repeat(32)}`]), {
  says: /--value/,
});
add(
  'cli',
  'feedback on an unknown trace',
  () => throughCli(['feedback', `tr-${'f'.repeat(32)}`, '--value', 'up']),
  {
    says: /NOT_FOUND/,
  },
);
add('cli', 'verify --alias latest', () => throughCli(['verify', '--alias', 'latest']), {
  says: /'latest'.*reserved/,
});
add('cli', 'verify with an argument', () => throughCli(['verify', 'production']), {
  says: /takes no arguments/,
});
add(
  'cli',
  'verify --prompts of a missing directory',
  () => throughCli(['verify', '--prompts', '/nonexistent/prompts']),
  {
    says: /--prompts/,
  },
);
add('cli', 'predict without a question', () => throughCli(['predict']), { says: /exactly one question/ });
add(
  'cli',
  'predict --data of a missing file',
  () => throughCli(['predict', 'Why?', '--data', '/nonexistent/data.json']),
  {
    says: /--data|data\.json/,
  },
);
add(
  'cli',
  'predict --data that is not JSON',
  async () =>
    throughCli(['predict', 'Why?', '--data', join(await promptFile('data.json', '{"cost": '), 'data.json')]),
  {
    says: /JSON/,
  },
);
add(
  'cli',
  'predict --data with an unknown domain',
  async () =>
    throughCli([
      'predict',
      'Why?',
      '--data',
      join(await promptFile('data.json', '{"weather": {}}'), 'data.json'),
    ]),
  {
    says: /weather|domain/,
  },
);
add(
  'cli',
  'snapshot --pins with a version that is not one',
  () => throughCli(['snapshot', '--pins', 'orchestrator=abc']),
  {
    says: /version/,
  },
);
add(
  'cli',
  'a registry URL with a password in it, unreachable',
  () =>
    throughCli(['show', 'x'], { ...cliEnv(), MLFLOW_TRACKING_URI: `http://${USER}:${PASSWORD}@127.0.0.1:9` }),
  {
    says: /UNAVAILABLE|answer|reach/i,
  },
);

add(
  'cli',
  'a loopback --api with a password in it, unreachable',
  () =>
    throughCli(['prompts', '--api', `http://${USER}:${PASSWORD}@127.0.0.1:9`, '--local-principal', ADMIN]),
  { says: /UNAVAILABLE|answer/ },
);

// --- The CLI: prompt files -------------------------------------------------------------------
add(
  'cli',
  'a prompt file that is invalid YAML',
  () => registerFile('orchestrator.md', frontMatter('variables: [query, context')),
  {
    says: /invalid YAML/,
  },
);
add(
  'cli',
  'a prompt file without front matter',
  () => registerFile('orchestrator.md', 'Route {{ query }}\n'),
  {
    says: /no front matter/,
  },
);
add(
  'cli',
  'a prompt file missing variables',
  () => registerFile('orchestrator.md', frontMatter('description: no variables')),
  {
    says: /variables/,
  },
);
add(
  'cli',
  'a prompt file with fields of the wrong types',
  () => registerFile('orchestrator.md', frontMatter('variables: query\ntags: {team: 1}')),
  {
    says: /'variables'.*array.*'tags\.team'/,
  },
);
add(
  'cli',
  'a prompt file with an unknown field',
  () => registerFile('orchestrator.md', frontMatter(`${GOOD_FIELDS}\ncolour: red`)),
  {
    says: /unknown field\(s\) 'colour'/,
  },
);
add('cli', 'a prompt file over the size cap', () => registerFile('orchestrator.md', huge), {
  says: /limited to/,
});
add('cli', 'a prompt file that is not UTF-8', () => registerFile('orchestrator.md', notUtf8), {
  says: /UTF-8/,
});
add(
  'cli',
  'a prompt file with an over-long commit message',
  () =>
    registerFile('orchestrator.md', frontMatter(`${GOOD_FIELDS}\ncommit_message: "${'c'.repeat(5_001)}"`)),
  {
    says: /'commit_message': at most 5000 characters/,
  },
);
add(
  'cli',
  'a prompt file with an undeclared variable',
  () =>
    registerFile(
      'orchestrator.md',
      frontMatter(GOOD_FIELDS, 'Route {{ query }} {{ context }} for {{ tenant }}'),
    ),
  {
    says: /undeclared variable\(s\) tenant/,
  },
);
add(
  'cli',
  'a prompt file named by a path traversal',
  () => registerFile('orchestrator.md', frontMatter(`name: ../../etc/passwd\n${GOOD_FIELDS}`)),
  {
    says: /Invalid prompt name/,
  },
);
add(
  'cli',
  "a prompt file with a '__proto__' field",
  () => registerFile('orchestrator.md', frontMatter(`__proto__: {variables: [x]}\n${GOOD_FIELDS}`)),
  {
    says: /unknown field\(s\) '__proto__'/,
  },
);
add('cli', 'a prompt file that is a YAML alias bomb', () => registerFile('orchestrator.md', aliasBomb), {
  says: /INVALID_PROMPT_FILE/,
});
add(
  'cli',
  'a prompt file forging a promptops tag',
  () =>
    registerFile('orchestrator.md', frontMatter(`${GOOD_FIELDS}\ntags: {promptops.content_hash: forged}`)),
  {
    says: /reserved/,
  },
);
add(
  'cli',
  'a prompt file with Jinja control syntax',
  () =>
    registerFile(
      'orchestrator.md',
      frontMatter(GOOD_FIELDS, '{% for q in query %}{{ q }}{% endfor %} {{ context }} {{ query }}'),
    ),
  {
    says: /Jinja2/,
  },
);

add(
  'cli',
  'a prompt file named with 300 characters',
  () => registerFile('orchestrator.md', frontMatter(`name: ${'n'.repeat(300)}\n${GOOD_FIELDS}`)),
  { says: /MLflow stores at most 256/ },
);

// --- S3 events to the register function --------------------------------------------------------
add('s3', 'an event that is a string', () => throughRegister('hello'), { says: /S3 notification/ });
add('s3', 'an event without Records', () => throughRegister({ detail: {} }), { says: /S3 notification/ });
add('s3', 'Records that is not a list', () => throughRegister({ Records: 'x' }), {
  says: /S3 notification|Records/,
});
add('s3', 'an empty Records list', () => throughRegister({ Records: [] }), { says: /record|event/i });
add(
  's3',
  'a record without an object key',
  () => {
    const event = s3Event([{ bucket, key: 'prompts/orchestrator.md' }]);
    const [record] = event.Records as unknown as { s3: { object: Record<string, unknown> } }[];
    if (record) delete record.s3.object.key;
    return throughRegister(event);
  },
  { says: /key/ },
);
add(
  's3',
  'an unknown bucket',
  () => throughRegister(s3Event([{ bucket: 'someone-elses-bucket', key: 'prompts/orchestrator.md' }])),
  {
    says: /not the prompts bucket/,
  },
);
add(
  's3',
  'a key outside prompts/',
  () => throughRegister(s3Event([{ bucket, key: 'uploads/orchestrator.md' }])),
  {
    says: /outside prompts\//,
  },
);
add(
  's3',
  'a key that is not a .md file',
  () => throughRegister(s3Event([{ bucket, key: 'prompts/orchestrator.txt' }])),
  {
    says: /outside prompts\/\*\.md/,
  },
);
add(
  's3',
  'a key with an encoded path traversal',
  () => throughRegister(s3Event([{ bucket, key: 'prompts/../../etc/passwd.md' }])),
  {
    says: /folder|outside/,
  },
);
add(
  's3',
  'a removal event',
  () =>
    throughRegister(s3Event([{ bucket, key: 'prompts/orchestrator.md', eventName: 'ObjectRemoved:Delete' }])),
  {
    says: /not an upload/,
  },
);
add(
  's3',
  'a key that is not valid URL encoding',
  () => {
    const event = s3Event([{ bucket, key: 'prompts/orchestrator.md' }]);
    const [record] = event.Records as unknown as { s3: { object: { key: string } } }[];
    if (record) record.s3.object.key = 'prompts/orch%ZZestrator.md';
    return throughRegister(event);
  },
  { says: /URL encoding/ },
);
add(
  's3',
  'an object deleted before it was read',
  () => throughRegister(s3Event([{ bucket, key: `prompts/gone-${RUN.slice(0, 8)}.md` }])),
  {
    says: /no longer exists/,
  },
);
add('s3', 'an object that is not UTF-8', () => upload('prompts/orchestrator.md', notUtf8), { says: /UTF-8/ });
add('s3', 'an object over the size cap', () => upload('prompts/orchestrator.md', huge), {
  says: /limited to/,
});
add(
  's3',
  'an object that is invalid YAML',
  () => upload('prompts/orchestrator.md', frontMatter('variables: [query, context')),
  {
    says: /invalid YAML/,
  },
);
add('s3', 'an object that is a YAML alias bomb', () => upload('prompts/orchestrator.md', aliasBomb), {
  says: /INVALID_PROMPT_FILE/,
});
add(
  's3',
  'a template using an undeclared variable',
  () =>
    upload(
      'prompts/orchestrator.md',
      frontMatter(GOOD_FIELDS, 'Route {{ query }} {{ context }} {{ tenant }}'),
    ),
  {
    says: /undeclared variable\(s\) tenant/,
  },
);
add(
  's3',
  'a template missing a declared variable',
  () => upload('prompts/orchestrator.md', frontMatter(GOOD_FIELDS, 'Route {{ query }}')),
  {
    says: /declared variable\(s\) context do not appear/,
  },
);
add(
  's3',
  'a file whose name is a path traversal',
  () => upload('prompts/orchestrator.md', frontMatter(`name: ../orchestrator\n${GOOD_FIELDS}`)),
  {
    says: /Invalid prompt name/,
  },
);
add(
  's3',
  'a file with an over-long commit message',
  () =>
    upload('prompts/orchestrator.md', frontMatter(`${GOOD_FIELDS}\ncommit_message: "${'c'.repeat(5_001)}"`)),
  {
    says: /commit_message/,
  },
);
add(
  's3',
  'a file with a model config of the wrong type',
  () => upload('prompts/orchestrator.md', frontMatter(`${GOOD_FIELDS}\nmodel_config: {temperature: hot}`)),
  {
    says: /temperature/,
  },
);

add(
  's3',
  'a file whose name is 300 characters',
  () => upload('prompts/orchestrator.md', frontMatter(`name: ${'n'.repeat(300)}\n${GOOD_FIELDS}`)),
  { says: /name/ },
);
add(
  's3',
  'a file whose tag value is over 100,000 characters',
  () =>
    upload('prompts/orchestrator.md', frontMatter(`${GOOD_FIELDS}\ntags: {team: ${'t'.repeat(100_001)}}`)),
  { says: /tag/ },
);
add(
  's3',
  'a file whose description is a list',
  () => upload('prompts/orchestrator.md', frontMatter(`${GOOD_FIELDS}\ndescription: [a, b]`)),
  { says: /description/ },
);

// --- The promote API ----------------------------------------------------------------------------
const PROMOTE = 'POST /prompts/{name}/promote';
const ROLLBACK = 'POST /prompts/{name}/rollback';
const DESCRIBE = 'GET /prompts/{name}';
const LIST = 'GET /prompts';
const promoteCall = (body: unknown, name = 'orchestrator') =>
  throughPromote({ routeKey: PROMOTE, name, body });

add(
  'promote',
  'a body that is not JSON',
  () => throughPromote({ routeKey: PROMOTE, name: 'orchestrator', rawBody: '{"from":' }),
  {
    says: /not valid JSON/,
  },
);
add('promote', 'a body that is a JSON list', () => promoteCall([1, 2]), { says: /request body/ });
add('promote', 'a body that is a JSON string', () => promoteCall('staging'), { says: /request body/ });
add(
  'promote',
  'a body that is base64 of garbage',
  () =>
    throughPromote({
      routeKey: PROMOTE,
      name: 'orchestrator',
      rawBody: Buffer.from([0xff, 0xfe, 0x00]).toString('base64'),
      isBase64Encoded: true,
    }),
  {
    says: /JSON/,
  },
);
add(
  'promote',
  'a body over 256 KiB',
  () =>
    throughPromote({
      routeKey: PROMOTE,
      name: 'orchestrator',
      rawBody: `{"reason": "${'r'.repeat(300 * 1024)}"}`,
    }),
  {
    says: /larger than/,
  },
);
add('promote', 'from of the wrong type', () => promoteCall({ from: true }), { says: /from/ });
add('promote', 'an unknown field', () => promoteCall({ from: 'staging', force: true }), {
  says: /unknown field\(s\): force/,
});
add('promote', 'a negative version', () => promoteCall({ from: -1 }), { says: /version number/ });
add('promote', 'a version beyond safe integers', () => promoteCall({ from: 2 ** 53 + 2 }), {
  says: /version number/,
});
add('promote', 'a fractional version', () => promoteCall({ from: 1.5 }), { says: /version number/ });
add('promote', 'expectedVersion as a string', () => promoteCall({ expectedVersion: '2' }), {
  says: /expectedVersion/,
});
add('promote', "to: 'latest'", () => promoteCall({ to: 'latest' }), { says: /'latest'/ });
add('promote', 'the same alias as from and to', () => promoteCall({ from: 'production', to: 'production' }), {
  says: /same alias/,
});
add('promote', 'an over-long reason', () => promoteCall({ reason: 'r'.repeat(MAX_REASON_LENGTH + 1) }), {
  says: /reason/,
});
add('promote', 'an unknown prompt', () => promoteCall({}, 'marketing_copy'), {
  says: /not one of the agent's prompts/,
});
add('promote', 'a path traversal as the name', () => promoteCall({}, '../../etc/passwd'), {
  says: /prompt name|not one of/,
});
add('promote', "'__proto__' as the name", () => promoteCall({}, '__proto__'), {
  says: /not one of the agent's prompts/,
});
add('promote', "'constructor' as the name", () => promoteCall({}, 'constructor'), {
  says: /not one of the agent's prompts/,
});
add('promote', 'no name in the path', () => throughPromote({ routeKey: PROMOTE, body: {} }), {
  says: /names no prompt/,
});
add('promote', 'an alias that does not exist as from', () => promoteCall({ from: 'canary' }), {
  says: /canary/,
});
add('promote', 'a version that does not exist as from', () => promoteCall({ from: 99 }), { says: /99/ });
add('promote', 'a stale expectedVersion', () => promoteCall({ expectedVersion: 3 }), {
  says: /not version 3/,
});
add('promote', 'a version the agent cannot format', () => promoteCall({ from: 3 }), { says: /tenant/ });
add(
  'promote',
  'no principal',
  () => throughPromote({ routeKey: PROMOTE, name: 'orchestrator', body: {}, principal: null }),
  {
    says: /no authenticated AWS principal/,
  },
);
add(
  'promote',
  'a principal that is not an ARN',
  () => throughPromote({ routeKey: PROMOTE, name: 'orchestrator', body: {}, principal: 'alice' }),
  {
    says: /principal/,
  },
);
add(
  'promote',
  'a principal who may not move production',
  () => throughPromote({ routeKey: PROMOTE, name: 'orchestrator', body: {}, principal: DEVELOPER }),
  {
    says: /'production' is protected/,
  },
);
add('promote', 'an event that is not an HTTP API event', () => throughPromote({ event: 'hello' }), {
  says: /principal/,
});
add(
  'promote',
  'a method the API does not have',
  () => throughPromote({ routeKey: 'PUT /prompts/{name}/promote', name: 'orchestrator', body: {} }),
  {
    says: /No route/,
  },
);
add(
  'promote',
  'rollback to version 0',
  () => throughPromote({ routeKey: ROLLBACK, name: 'orchestrator', body: { toVersion: 0 } }),
  {
    says: /toVersion/,
  },
);
add(
  'promote',
  'rollback with nothing recorded',
  () => throughPromote({ routeKey: ROLLBACK, name: 'orchestrator', body: {} }),
  {
    says: /no recorded earlier version/,
  },
);
add(
  'promote',
  'maxResults as a word',
  () => throughPromote({ routeKey: DESCRIBE, name: 'orchestrator', query: { maxResults: 'ten' } }),
  {
    says: /maxResults/,
  },
);
add(
  'promote',
  'maxResults of a million',
  () => throughPromote({ routeKey: LIST, query: { maxResults: '1000000' } }),
  {
    says: /at most/,
  },
);
add(
  'promote',
  'a pageToken that is not one',
  () => throughPromote({ routeKey: LIST, query: { pageToken: 'not-a-prompt' } }),
  {
    says: /pageToken/,
  },
);
add(
  'promote',
  'a describe pageToken that is not one',
  () => throughPromote({ routeKey: DESCRIBE, name: 'orchestrator', query: { pageToken: '%%%' } }),
  {
    says: /pageToken|page token/i,
  },
);
for (const [label, token] of [
  ['a negative offset', { offset: -1 }],
  ['an offset that is a word', { offset: 'x' }],
  ['a token that is a JSON list', [1]],
] as const) {
  add(
    'promote',
    `a describe pageToken with ${label}`,
    () =>
      throughPromote({
        routeKey: DESCRIBE,
        name: 'orchestrator',
        query: { pageToken: Buffer.from(JSON.stringify(token)).toString('base64') },
      }),
    { says: /pageToken|page token/i },
  );
}
add(
  'promote',
  'an unknown query parameter',
  () => throughPromote({ routeKey: LIST, query: { limit: '5' } }),
  {
    says: /unknown field\(s\): limit/,
  },
);

// --- The experiment routes ---------------------------------------------------------------------
const EXPERIMENT = 'POST /prompts/{name}/experiment';
const STOP = 'DELETE /prompts/{name}/experiment';
const START = { id: 'brevity', variants: [{ alias: 'candidate', weight_bp: 2_000 }], reason: 'try brevity' };
const startCall = (body: unknown) => throughPromote({ routeKey: EXPERIMENT, name: 'orchestrator', body });

add(
  'experiment',
  'a split over 100 %',
  () => startCall({ ...START, variants: [{ alias: 'candidate', weight_bp: 10_001 }] }),
  {
    says: /weight_bp/,
  },
);
add(
  'experiment',
  'a fractional share',
  () => startCall({ ...START, variants: [{ alias: 'candidate', weight_bp: 12.5 }] }),
  {
    says: /whole basis points/,
  },
);
add(
  'experiment',
  'shares summing over 100 %',
  () =>
    startCall({
      ...START,
      variants: [
        { alias: 'candidate', weight_bp: 6_000 },
        { alias: 'broken', weight_bp: 6_000 },
      ],
    }),
  {
    says: /weight|share|traffic|10000|100/i,
  },
);
add(
  'experiment',
  'four variants',
  () => startCall({ ...START, variants: ['a', 'b', 'c', 'd'].map((alias) => ({ alias, weight_bp: 100 })) }),
  {
    says: /1 to 3 variants/,
  },
);
add('experiment', 'no variants', () => startCall({ ...START, variants: [] }), { says: /1 to 3 variants/ });
add(
  'experiment',
  "'staging' as a variant",
  () => startCall({ ...START, variants: [{ alias: 'staging', weight_bp: 100 }] }),
  {
    says: /cannot be 'staging'/,
  },
);
add(
  'experiment',
  'the control as a variant',
  () => startCall({ ...START, variants: [{ alias: 'production', weight_bp: 100 }] }),
  {
    says: /control/,
  },
);
add(
  'experiment',
  'a guard that does not parse',
  () => startCall({ ...START, guardrails: 'error_rate<=lots' }),
  {
    says: /error_rate<=lots/,
  },
);
add(
  'experiment',
  'a guard on an unknown metric',
  () => startCall({ ...START, guardrails: 'happiness<=+1pp' }),
  {
    says: /happiness/,
  },
);
add('experiment', 'an id that is not one', () => startCall({ ...START, id: 'Not An Id' }), { says: /id/ });
add('experiment', 'an end that is not a time', () => startCall({ ...START, ends_at: 'tomorrow' }), {
  says: /ends_at/,
});
add(
  'experiment',
  'a rollout not ending at 100',
  () =>
    startCall({
      ...START,
      variants: [{ alias: 'candidate' }],
      guardrails: 'error_rate<=+1pp',
      rollout: { steps: [10, 50] },
    }),
  {
    says: /100/,
  },
);
add(
  'experiment',
  'a variant alias that does not exist',
  () => startCall({ ...START, variants: [{ alias: 'nowhere', weight_bp: 100 }] }),
  {
    says: /nowhere/,
  },
);
add(
  'experiment',
  'a variant the agent cannot format',
  () => startCall({ ...START, variants: [{ alias: 'broken', weight_bp: 100 }] }),
  {
    says: /tenant/,
  },
);
add(
  'experiment',
  'stop with expectedRevision as a word',
  () => throughPromote({ routeKey: STOP, name: 'orchestrator', body: { expectedRevision: 'two' } }),
  {
    says: /expectedRevision/,
  },
);
add(
  'experiment',
  'stop with a body that is not JSON',
  () => throughPromote({ routeKey: STOP, name: 'orchestrator', rawBody: '{' }),
  {
    says: /not valid JSON/,
  },
);

// --- Predict -------------------------------------------------------------------------------------
add('predict', 'a body that is not JSON', () => throughPredict({ rawBody: '{"messages": [' }), {
  says: /not valid JSON/,
});
add('predict', 'an empty body', () => throughPredict({ body: {} }), { says: /messages|query/ });
add('predict', 'no question at all', () => throughPredict({ body: { messages: [] } }), { says: /message/ });
add(
  'predict',
  'a question over the limit',
  () => throughPredict({ body: { query: 'x'.repeat(MAX_QUERY_CHARS + 1) } }),
  {
    says: /query/,
  },
);
add('predict', 'a body over 256 KiB', () => throughPredict({ rawBody: ' '.repeat(300 * 1024) }), {
  says: /larger than/,
});
add('predict', 'messages of the wrong type', () => throughPredict({ body: { messages: 'hello' } }), {
  says: /messages/,
});
add(
  'predict',
  'content of the wrong type',
  () => throughPredict({ body: { messages: [{ role: 'user', content: 42 }] } }),
  {
    says: /content/,
  },
);
add(
  'predict',
  'a field outside ChatAgentRequest',
  () => throughPredict({ body: { query: 'Why?', temperature: 2 } }),
  {
    says: /unknown field\(s\): temperature/,
  },
);
add(
  'predict',
  'no user message',
  () => throughPredict({ body: { messages: [{ role: 'assistant', content: 'hi' }] } }),
  {
    says: /no user message/,
  },
);
add(
  'predict',
  'streaming',
  () => throughPredict({ body: { messages: [{ role: 'user', content: 'Why?' }], stream: true } }),
  { says: /[Ss]treaming is not supported/ },
);
add(
  'predict',
  'the shorthand with a ChatAgent field',
  () => throughPredict({ body: { query: 'Why?', stream: true } }),
  {
    says: /unknown field\(s\): stream/,
  },
);
add(
  'predict',
  'an unknown data domain',
  () => throughPredict({ body: { query: 'Why?', data: { weather: {} } } }),
  {
    says: /data/,
  },
);
add('predict', 'a query that is null', () => throughPredict({ body: { query: null } }), { says: /query/ });
add('predict', 'another route', () => throughPredict({ routeKey: 'GET /predict', body: { query: 'Why?' } }), {
  says: /No route/,
});
add('predict', 'a question of only spaces', () => throughPredict({ body: { query: '   ' } }), {
  says: /query|question|content/,
});
add(
  'predict',
  'two thousand messages',
  () =>
    throughPredict({
      body: {
        messages: Array.from({ length: 2_000 }, (_, i) => ({
          role: i % 2 ? 'assistant' : 'user',
          content: 'x',
        })),
      },
    }),
  { says: /messages/ },
);
add(
  'predict',
  'a message with an unknown role',
  () => throughPredict({ body: { messages: [{ role: 'root', content: 'Why?' }] } }),
  {
    says: /no user message/,
  },
);
add(
  'predict',
  'context of the wrong type',
  () => throughPredict({ body: { query: 'Why?', context: 'conv-1' } }),
  {
    says: /context/,
  },
);
add('predict', 'no principal', () => throughPredict({ principal: null, body: { query: 'Why?' } }), {
  says: /principal/,
});

// --- Feedback ------------------------------------------------------------------------------------
const TRACE = `tr-${'a'.repeat(32)}`;
add(
  'feedback',
  'a trace id that is not one',
  () => throughFeedback({ body: { traceId: 'abc', value: 'up' } }),
  { says: /traceId/ },
);
add(
  'feedback',
  'a trace id with upper-case hex',
  () => throughFeedback({ body: { traceId: `tr-${'A'.repeat(32)}`, value: 'up' } }),
  {
    says: /traceId/,
  },
);
add(
  'feedback',
  'a value that is not one',
  () => throughFeedback({ body: { traceId: TRACE, value: 'meh' } }),
  { says: /value/ },
);
add(
  'feedback',
  'an infinite score',
  () => throughFeedback({ rawBody: `{"traceId": "${TRACE}", "value": 1e999}` }),
  { says: /value/ },
);
add('feedback', 'no value', () => throughFeedback({ body: { traceId: TRACE } }), { says: /value/ });
add('feedback', 'no trace id', () => throughFeedback({ body: { value: 'up' } }), { says: /traceId/ });
add(
  'feedback',
  'an unknown field',
  () => throughFeedback({ body: { traceId: TRACE, value: 'up', by: 'mallory' } }),
  {
    says: /unknown field\(s\): by/,
  },
);
add(
  'feedback',
  'a comment over 5,000 characters',
  () => throughFeedback({ body: { traceId: TRACE, value: 'up', comment: 'c'.repeat(5_001) } }),
  {
    says: /comment/,
  },
);
add(
  'feedback',
  'a name with spaces',
  () => throughFeedback({ body: { traceId: TRACE, value: 'up', name: 'my name' } }),
  {
    says: /name/,
  },
);
add('feedback', 'a body that is not JSON', () => throughFeedback({ rawBody: 'value=up' }), {
  says: /not valid JSON/,
});
add(
  'feedback',
  'a trace that does not exist',
  () => throughFeedback({ body: { traceId: `tr-${'e'.repeat(32)}`, value: 3 } }),
  {
    says: /trace/i,
  },
);

// --- Verify's options ----------------------------------------------------------------------------
const verifyEnv = (env: Record<string, string>) => ({
  PROMPTOPS_SECRET_ID: 'promptops/corpus/verify',
  ...env,
});
add(
  'verify',
  "VERIFY_ALIASES naming 'latest'",
  async () => throughConfig(parseVerifyEnv, verifyEnv({ VERIFY_ALIASES: 'production,latest' })),
  {
    says: /VERIFY_ALIASES.*reserved/,
  },
);
add(
  'verify',
  'VERIFY_ALIASES naming a version',
  async () => throughConfig(parseVerifyEnv, verifyEnv({ VERIFY_ALIASES: 'v3' })),
  {
    says: /VERIFY_ALIASES/,
  },
);
add(
  'verify',
  'VERIFY_ALIASES with no alias in it',
  async () => throughConfig(parseVerifyEnv, verifyEnv({ VERIFY_ALIASES: ' , ' })),
  {
    says: /VERIFY_ALIASES/,
  },
);
add(
  'verify',
  'VERIFY_ALIASES with a bad alias name',
  async () => throughConfig(parseVerifyEnv, verifyEnv({ VERIFY_ALIASES: 'production,pro duction!' })),
  {
    says: /VERIFY_ALIASES: Invalid alias/,
  },
);
add('verify', 'PROMPTOPS_SECRET_ID unset', async () => throughConfig(parseVerifyEnv, {}), {
  says: /PROMPTOPS_SECRET_ID.*not set/,
});
add(
  'verify',
  'PROMPTOPS_SECRET_ID blank',
  async () => throughConfig(parseVerifyEnv, { PROMPTOPS_SECRET_ID: '  ' }),
  {
    says: /PROMPTOPS_SECRET_ID/,
  },
);
add(
  'verify',
  'PROMPTOPS_HTTP_TIMEOUT_MS as a word',
  async () => throughConfig(parseVerifyEnv, verifyEnv({ PROMPTOPS_HTTP_TIMEOUT_MS: 'soon' })),
  {
    says: /PROMPTOPS_HTTP_TIMEOUT_MS: expected a positive integer/,
  },
);
add(
  'verify',
  'POWERTOOLS_LOG_LEVEL that is not a level',
  async () => throughConfig(parseVerifyEnv, verifyEnv({ POWERTOOLS_LOG_LEVEL: 'LOUD' })),
  {
    says: /POWERTOOLS_LOG_LEVEL: expected one of/,
  },
);
add(
  'verify',
  'the renamed PROMPTOPS_LOG_LEVEL',
  async () => throughConfig(parseVerifyEnv, verifyEnv({ PROMPTOPS_LOG_LEVEL: 'DEBUG' })),
  {
    says: /renamed: set POWERTOOLS_LOG_LEVEL/,
  },
);
add(
  'verify',
  'POWERTOOLS_LOGGER_SAMPLE_RATE as a word',
  async () => throughConfig(parseVerifyEnv, verifyEnv({ POWERTOOLS_LOGGER_SAMPLE_RATE: 'half' })),
  {
    says: /POWERTOOLS_LOGGER_SAMPLE_RATE/,
    notSays: /not set/,
  },
);
add('verify', 'a secret id that names no secret', () => throughVerify(`promptops/corpus/none-${RUN}`), {
  says: /does not exist/,
});

// --- The secret's contents (through verify, register and the CLI in turn) ------------------------
const mlflow = (fields: Record<string, unknown>) => ({
  registry: { type: 'mlflow', trackingUri: mlflowUri, ...fields },
});
const secretCases: [string, () => Promise<string>, RegExp][] = [
  [
    'a secret that is not JSON',
    () => secretHolding(undefined, `{"registry": {"token": "${TOKEN}"`),
    /not valid JSON/,
  ],
  ['a secret that is an empty string', () => secretHolding(undefined, ' '), /not valid JSON|shape/],
  ['a secret that is a JSON list', () => secretHolding([TOKEN]), /wrong shape/],
  [
    'a secret without its registry',
    () => secretHolding({ model: { baseUrl: 'https://api.example.com/v1', name: 'm', apiKey: API_KEY } }),
    /registry/,
  ],
  [
    'a secret without the tracking URI',
    () => secretHolding({ registry: { type: 'mlflow', token: TOKEN } }),
    /registry\.trackingUri/,
  ],
  [
    'a tracking URI that is not a URL',
    () => secretHolding({ registry: { type: 'mlflow', trackingUri: TOKEN } }),
    /registry\.trackingUri: expected an http\(s\) URL/,
  ],
  [
    'a tracking URI over ftp',
    () =>
      secretHolding({ registry: { type: 'mlflow', trackingUri: 'ftp://mlflow.example.com', token: TOKEN } }),
    /http\(s\) URL/,
  ],
  ['a token that is a number', () => secretHolding(mlflow({ token: 12345 })), /registry\.token/],
  ['a token that is empty', () => secretHolding(mlflow({ token: '' })), /registry\.token/],
  [
    'a token and basic auth together',
    () => secretHolding(mlflow({ token: TOKEN, username: USER, password: PASSWORD })),
    /token.*username|not both/,
  ],
  [
    'a username without its password',
    () => secretHolding(mlflow({ username: USER })),
    /username and password/,
  ],
  [
    'a password without its username',
    () => secretHolding(mlflow({ password: PASSWORD })),
    /username and password/,
  ],
  [
    'a secret value pasted as a key',
    () => secretHolding({ ...mlflow({ token: TOKEN }), [TOKEN]: true }),
    /unknown field/,
  ],
  [
    'an unknown registry type',
    () => secretHolding({ registry: { type: 'sagemaker', trackingUri: mlflowUri, token: TOKEN } }),
    /'mlflow' or 'databricks'/,
  ],
  [
    'a Databricks host over plain http',
    () => secretHolding({ registry: { type: 'databricks', host: 'http://adb-1.example.com', token: TOKEN } }),
    /https/,
  ],
  [
    'a Databricks token and client secret together',
    () =>
      secretHolding({
        registry: {
          type: 'databricks',
          host: 'https://adb-1.example.com',
          token: TOKEN,
          clientId: 'c',
          clientSecret: CLIENT_SECRET,
        },
      }),
    /not both/,
  ],
  [
    'a Databricks client id without its secret',
    () =>
      secretHolding({ registry: { type: 'databricks', host: 'https://adb-1.example.com', clientId: 'c' } }),
    /clientId and clientSecret/,
  ],
  [
    'a serving endpoint with an MLflow registry',
    () => secretHolding({ ...mlflow({ token: TOKEN }), model: { servingEndpoint: 'claude' } }),
    /servingEndpoint/,
  ],
  [
    'a model key that is a number',
    () =>
      secretHolding({
        ...mlflow({ token: TOKEN }),
        model: { baseUrl: 'https://api.example.com/v1', name: 'm', apiKey: 42 },
      }),
    /model/,
  ],
  [
    'a secret with a binary value only',
    async () => {
      const name = `promptops/corpus/${randomUUID()}`;
      await secretsManager.send(new CreateSecretCommand({ Name: name, SecretBinary: Buffer.from(TOKEN) }));
      return name;
    },
    /no string value/,
  ],
];
add(
  'secret',
  'a secret that does not exist (register function)',
  async () => {
    await putObject('prompts/orchestrator.md', frontMatter(GOOD_FIELDS, `${ORCHESTRATOR} Kept.`));
    return throughRegister(s3Event([{ bucket, key: 'prompts/orchestrator.md' }]), {
      secret: `promptops/corpus/none-${RUN}`,
      retry: true,
    });
  },
  { says: /does not exist/ },
);
add(
  'secret',
  'a secret that does not exist (promptops register --secret-id)',
  async () =>
    throughCli([
      'register',
      await promptFile('orchestrator.md', frontMatter(GOOD_FIELDS)),
      '--prefix',
      prefix,
      '--secret-id',
      `promptops/corpus/none-${RUN}`,
    ]),
  {
    says: /INVALID_SECRET: Secret .* does not exist/,
  },
);
const secretEntryPoints: [string, (secret: string) => Promise<Outcome>][] = [
  ['verify function', (secret) => throughVerify(secret)],
  [
    'promptops register --secret-id',
    async (secret) =>
      throughCli([
        'register',
        await promptFile('orchestrator.md', frontMatter(GOOD_FIELDS)),
        '--prefix',
        prefix,
        '--secret-id',
        secret,
      ]),
  ],
  [
    'register function',
    async (secret) => {
      await putObject('prompts/orchestrator.md', frontMatter(GOOD_FIELDS, `${ORCHESTRATOR} Kept.`));
      return throughRegister(s3Event([{ bucket, key: 'prompts/orchestrator.md' }]), { secret, retry: true });
    },
  ],
  [
    'promptops verify --secret-id',
    (secret) => throughCli(['verify', '--secret-id', secret, '--prefix', prefix]),
  ],
];
secretCases.forEach(([name, make, says], index) => {
  const [where, run] = secretEntryPoints[
    index % secretEntryPoints.length
  ] as (typeof secretEntryPoints)[number];
  add('secret', `${name} (${where})`, async () => run(await make()), { says });
});

// --- The functions' configuration (the parser a cold start runs) ----------------------------------
const base = { PROMPTOPS_SECRET_ID: 'promptops/corpus/config' };
const promoteBase = { ...base, PROMOTE_LOCK_TABLE: 'locks' };
add(
  'config',
  'promote: PROTECTED_ALIAS_PRINCIPALS with a secret in a list item',
  async () =>
    throughConfig(parsePromoteEnv, {
      ...promoteBase,
      PROTECTED_ALIAS_PRINCIPALS: `${ADMIN}, ${TOKEN} extra`,
    }),
  {
    says: /PROTECTED_ALIAS_PRINCIPALS.*not an ARN pattern/,
  },
);
add(
  'config',
  'promote: PROTECTED_ALIASES with a bad alias',
  async () => throughConfig(parsePromoteEnv, { ...promoteBase, PROTECTED_ALIASES: `production,${TOKEN}!` }),
  {
    says: /PROTECTED_ALIASES/,
  },
);
add(
  'config',
  'promote: PROTECTED_ALIASES empty',
  async () => throughConfig(parsePromoteEnv, { ...promoteBase, PROTECTED_ALIASES: ' ' }),
  {
    says: /PROTECTED_ALIASES: expected aliases, or 'none'/,
  },
);
add(
  'config',
  'promote: PROMOTE_LOCK_WAIT_MS as a word',
  async () => throughConfig(parsePromoteEnv, { ...promoteBase, PROMOTE_LOCK_WAIT_MS: 'soon' }),
  {
    says: /PROMOTE_LOCK_WAIT_MS/,
    notSays: /not set/,
  },
);
add('config', 'promote: no lock table', async () => throughConfig(parsePromoteEnv, base), {
  says: /PROMOTE_LOCK_TABLE/,
});
add(
  'config',
  'predict: a pin to a version that is a secret',
  async () => throughConfig(parsePredictEnv, { ...base, PREDICT_PROMPT_PINS: `orchestrator=${TOKEN}` }),
  {
    says: /PREDICT_PROMPT_PINS.*version/,
  },
);
add(
  'config',
  'predict: a pin to an alias that is a secret',
  async () => throughConfig(parsePredictEnv, { ...base, PREDICT_PROMPT_PINS: `orchestrator@${TOKEN}!` }),
  {
    says: /PREDICT_PROMPT_PINS.*alias/,
  },
);
add(
  'config',
  'predict: a pin of a prompt the agent does not have',
  async () => throughConfig(parsePredictEnv, { ...base, PREDICT_PROMPT_PINS: 'marketing=3' }),
  {
    says: /PREDICT_PROMPT_PINS.*not one of the agent's prompts/,
  },
);
add(
  'config',
  'predict: budgets leaving the model no time',
  async () =>
    throughConfig(parsePredictEnv, {
      ...base,
      PREDICT_LOAD_BUDGET_MS: '15000',
      PREDICT_TRACE_BUDGET_MS: '15000',
    }),
  {
    says: /the model needs the rest/,
  },
);
add(
  'config',
  'predict: both experiment variables',
  async () =>
    throughConfig(parsePredictEnv, { ...base, MLFLOW_EXPERIMENT_ID: '1', MLFLOW_EXPERIMENT_NAME: 'x' }),
  {
    says: /not both/,
  },
);
add(
  'config',
  'predict: PREDICT_TRACE_CONTENT that is not one',
  async () => throughConfig(parsePredictEnv, { ...base, PREDICT_TRACE_CONTENT: TOKEN }),
  {
    says: /PREDICT_TRACE_CONTENT: expected one of full, metadata/,
  },
);
add('config', 'register: no bucket', async () => throughConfig(parseRegisterEnv, base), {
  says: /PROMPTS_BUCKET/,
});
add(
  'config',
  'register: PROMPTOPS_SECRET_TTL_MS that is a secret',
  async () =>
    throughConfig(parseRegisterEnv, { ...base, PROMPTS_BUCKET: 'bucket', PROMPTOPS_SECRET_TTL_MS: TOKEN }),
  {
    says: /PROMPTOPS_SECRET_TTL_MS: expected a positive integer/,
  },
);
add(
  'config',
  'rollout: a role name that is not one',
  async () => throughConfig(parseRolloutEnv, { ...promoteBase, ROLLOUT_ROLE_NAME: `role ${TOKEN}` }),
  {
    says: /ROLLOUT_ROLE_NAME: expected an IAM role name/,
  },
);
add(
  'config',
  'rollout: ROLLOUT_ALPHA out of range',
  async () =>
    throughConfig(parseRolloutEnv, { ...promoteBase, ROLLOUT_ROLE_NAME: 'r', ROLLOUT_ALPHA: '0.9' }),
  {
    says: /ROLLOUT_ALPHA/,
  },
);

// ---------------------------------------------------------------------------------------------

const verdicts: Verdict[] = [];
let baseline: unknown;

beforeAll(async () => {
  Object.assign(process.env, awsEnv);
  s3 = new S3Client({});
  secretsManager = new SecretsManagerClient({});
  dynamodb = new DynamoDBClient({});
  registry = createRegistryClient({ trackingUri: mlflowUri });
  naming = uniqueNaming('corpus');
  prefix = naming.prefix as string;
  await Promise.all([s3.send(new CreateBucketCommand({ Bucket: bucket })), createLockTable(dynamodb, table)]);
  // A realistic registry: the agent's eight prompts (v1, staging and production), the
  // orchestrator's v2 on staging and candidate, v3 that the agent cannot format on broken.
  const names = await registerAgentPrompts(registry, naming);
  const orchestrator = names.get('orchestrator') as string;
  await registry.registerPrompt({
    name: orchestrator,
    template: `${ORCHESTRATOR} Be brief.`,
    commitMessage: 'v2',
  });
  await registry.registerPrompt({
    name: orchestrator,
    template: `${ORCHESTRATOR} For {{tenant}}.`,
    commitMessage: 'v3',
  });
  await registry.setAlias(orchestrator, 'staging', 2);
  await registry.setAlias(orchestrator, 'candidate', 2);
  await registry.setAlias(orchestrator, 'broken', 3);
  const model = { baseUrl: 'http://127.0.0.1:9/v1', name: 'corpus-model', apiKey: API_KEY };
  secretId = await makeSecret(secretsManager, {
    registry: { type: 'mlflow', trackingUri: mlflowUri, token: TOKEN },
    model,
  });
  basicSecretId = await makeSecret(secretsManager, {
    registry: { type: 'mlflow', trackingUri: mlflowUri, username: USER, password: PASSWORD },
    model,
  });
  promptDir = await mkdtemp(join(tmpdir(), 'promptops-corpus-'));
  baseline = await registryState(mlflowUri, prefix);
  expect(JSON.stringify(baseline)).toContain(`${prefix}orchestrator`);
});

afterAll(() => {
  s3?.destroy();
  secretsManager?.destroy();
  dynamodb?.destroy();
});

/** Runs the cases of one entry point; a miss is recorded, so that one run reports every one. */
async function runEntry(entry: Entry): Promise<Verdict[]> {
  const mine: Verdict[] = [];
  for (const input of cases.filter((c) => c.entry === entry)) {
    const verdict = await judge(input, markers, async () => {
      const now = await registryState(mlflowUri, prefix);
      const change = stateChange(baseline, now);
      // Judged once: the next case is compared with what is there now.
      baseline = now;
      return change;
    });
    mine.push(verdict);
  }
  verdicts.push(...mine);
  return mine;
}

describe('bad inputs, each refused clearly, quickly, briefly, without a stack or a secret, writing nothing', () => {
  it.each([
    'cli',
    's3',
    'promote',
    'experiment',
    'predict',
    'feedback',
    'verify',
    'secret',
    'config',
  ] as const)(
    '%s',
    async (entry) => {
      const mine = await runEntry(entry);
      expect(mine.length).toBeGreaterThan(0);
      const missed = mine.filter((v) => v.misses.length > 0);
      expect(missed, describeVerdicts(missed)).toEqual([]);
    },
    300_000,
  );

  it('every one handled', () => {
    const handled = verdicts.filter((v) => v.misses.length === 0).length;
    const total = verdicts.length;
    console.log(describeVerdicts(verdicts));
    // Every case with what it showed, for a reader who wants the messages themselves.
    if (process.env.BAD_INPUTS_REPORT)
      writeFileSync(process.env.BAD_INPUTS_REPORT, JSON.stringify(verdicts, null, 2));
    console.log(`bad inputs: ${handled}/${total} handled`);
    expect(total).toBe(cases.length);
    expect(total).toBeGreaterThanOrEqual(60);
    expect(handled).toBe(total);
  });

  it('would have seen a write: a prompt tag, a version tag, an alias', async () => {
    const before = await registryState(mlflowUri, prefix);
    const name = `${prefix}orchestrator`;
    await registry.setVersionTag(name, 2, 'corpus.probe', 'x');
    expect(stateChange(before, await registryState(mlflowUri, prefix))).toContain(`${name}/2 changed`);
    await registry.setPromptTag(name, 'corpus.probe', 'x');
    await registry.setAlias(`${prefix}synthesizer`, 'probe', 1);
    expect(stateChange(before, await registryState(mlflowUri, prefix))).toMatch(
      new RegExp(`${name.replaceAll('.', '\\.')} changed.*synthesizer changed`),
    );
  });
});
