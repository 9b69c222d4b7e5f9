/**
 * The promote function's handler with HTTP API events as API Gateway shapes them: the real MLflow
 * server, credentials from moto's Secrets Manager, the alias lock in moto's DynamoDB. One test per
 * answer the API gives (200, 400, 401, 403, 404, 409, 422, 500, 503).
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { historyTag, parseHistory } from '../../lib/promote/history';
import { MOVED_TAG_PREFIX } from '../../lib/promote/move-alias';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { createLockTable } from '../../local/lock-table';
import { httpApiEvent } from '../support/http-api-event';
import { promoteHandler } from '../support/promote-handler';
import { makeSecret as createSecret } from '../support/secrets';
import { awsEnvFor, freePort } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const TOKEN = `tok-${randomUUID()}`;
const ADMIN = 'arn:aws:sts::123456789012:assumed-role/release-managers/alice';
const DEVELOPER = 'arn:aws:iam::123456789012:user/bob';
const table = `locks-${randomUUID().slice(0, 8)}`;

let registry: RegistryClient;
let dynamodb: DynamoDBClient;
let secretsManager: SecretsManagerClient;
let secretId: string;
const logs: string[] = [];

const ORCHESTRATOR_V1 = 'Route {{query}} with {{context}}.';
const ORCHESTRATOR_V2 = 'Route the question {{query}} given {{context}}.';
/** Needs a variable the agent does not supply: the gate refuses it. */
const ORCHESTRATOR_V3 = 'Route {{query}} given {{context}} for {{tenant}}.';

const makeSecret = (value: unknown) => createSecret(secretsManager, value);

/** A fresh prefix: each test gets its own eight agent prompts' names. */
function freshPrefix(): string {
  return `it.promote.${randomUUID().slice(0, 8)}.`;
}

/** Registers orchestrator v1..v3 under the prefix: production → 1, staging → 2. */
async function seed(prefix: string): Promise<string> {
  const name = `${prefix}orchestrator`;
  for (const template of [ORCHESTRATOR_V1, ORCHESTRATOR_V2, ORCHESTRATOR_V3])
    await registry.registerPrompt({ name, template, commitMessage: `v: ${template.slice(0, 12)}` });
  await registry.setAlias(name, 'production', 1);
  await registry.setAlias(name, 'staging', 2);
  return name;
}

function handlerFor(prefix: string, extraEnv: Record<string, string> = {}) {
  return promoteHandler({
    secretId,
    prefix,
    table,
    secretsManager,
    dynamodb,
    logs,
    now: new Date('2026-11-24T12:00:00.000Z'),
    env: extraEnv,
  });
}

interface Call {
  readonly principal?: string | null;
  readonly name?: string;
  readonly body?: unknown;
  readonly rawBody?: string;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
}

/** An HTTP API (payload 2.0) event as API Gateway sends it after IAM authorization. */
function event(routeKey: string, call: Call) {
  return httpApiEvent({
    routeKey,
    rawPath: '/',
    principal: call.principal === undefined ? ADMIN : call.principal,
    pathParameters: call.name === undefined ? undefined : { name: call.name },
    query: call.query,
    headers: call.headers,
    body: call.body,
    rawBody: call.rawBody,
  });
}

type Handler = ReturnType<typeof handlerFor>;

async function send(handler: Handler, routeKey: string, call: Call, remainingMs?: number) {
  const response: APIGatewayProxyStructuredResultV2 = await handler(event(routeKey, call), {
    awsRequestId: randomUUID(),
    ...(remainingMs === undefined ? {} : { getRemainingTimeInMillis: () => remainingMs }),
  });
  return {
    status: response.statusCode,
    headers: response.headers ?? {},
    body: JSON.parse(response.body ?? 'null'),
  };
}

const PROMOTE = 'POST /prompts/{name}/promote';
const ROLLBACK = 'POST /prompts/{name}/rollback';
const DESCRIBE = 'GET /prompts/{name}';
const LIST = 'GET /prompts';

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  dynamodb = new DynamoDBClient({});
  secretsManager = new SecretsManagerClient({});
  registry = createRegistryClient({ trackingUri: mlflowUri });
  secretId = await makeSecret({ registry: { type: 'mlflow', trackingUri: mlflowUri, token: TOKEN } });
  await createLockTable(dynamodb, table);
});

describe('promote function: moves (200)', () => {
  it('promotes staging to production, records it, and answers the move', async () => {
    logs.length = 0;
    const prefix = freshPrefix();
    const name = await seed(prefix);
    const handler = handlerFor(prefix);
    const first = await send(handler, PROMOTE, {
      name: 'orchestrator',
      body: { expectedVersion: 1, reason: 'evaluation run 42 passed' },
    });
    expect(first).toMatchObject({ status: 200 });
    expect(first.body).toEqual({
      name,
      prompt: 'orchestrator',
      action: 'promote',
      alias: 'production',
      version: 2,
      previousVersion: 1,
      changed: true,
      by: ADMIN,
      at: '2026-11-24T12:00:00.000Z',
    });
    const prompt = await registry.getPrompt(name);
    expect(prompt.aliases).toMatchObject({ production: 2, staging: 2 });
    expect(parseHistory(prompt.tags[historyTag('production')]).entries).toEqual([
      {
        action: 'promote',
        version: 2,
        previousVersion: 1,
        by: ADMIN,
        at: '2026-11-24T12:00:00.000Z',
        reason: 'evaluation run 42 passed',
      },
    ]);
    const version = await registry.getPromptVersion(name, 2);
    expect(JSON.parse(version.tags[`${MOVED_TAG_PREFIX}production`] ?? '{}')).toMatchObject({ by: ADMIN });

    // The audit line and the metric.
    const auditLine = logs.map((l) => JSON.parse(l)).find((l) => l.audit === true && l.name === name);
    expect(auditLine).toMatchObject({ message: 'alias moved', alias: 'production', version: 2, by: ADMIN });
    expect(logs.some((l) => l.includes('"AliasMoved"'))).toBe(true);

    // Again: already there, nothing written.
    const tagsBefore = (await registry.getPrompt(name)).tags;
    const again = await send(handler, PROMOTE, { name: 'orchestrator', body: {} });
    expect(again.body).toMatchObject({ changed: false, version: 2, previousVersion: 2 });
    expect((await registry.getPrompt(name)).tags).toEqual(tagsBefore);
  });

  it('accepts the registry name in the path, a version number as from, and any alias as to', async () => {
    const prefix = freshPrefix();
    const name = await seed(prefix);
    const moved = await send(handlerFor(prefix), PROMOTE, {
      name,
      principal: DEVELOPER,
      body: { from: 1, to: 'canary', expectedVersion: null },
    });
    expect(moved.body).toMatchObject({ alias: 'canary', version: 1, previousVersion: null });
    expect((await registry.getPrompt(name)).aliases).toMatchObject({ canary: 1 });
  });

  it('rolls back to where the alias was, and GET shows versions, aliases and history', async () => {
    const prefix = freshPrefix();
    const name = await seed(prefix);
    const handler = handlerFor(prefix);
    await send(handler, PROMOTE, { name: 'orchestrator', body: { reason: 'ship it' } });
    const back = await send(handler, ROLLBACK, {
      name: 'orchestrator',
      body: { reason: 'latency regression' },
    });
    expect(back).toMatchObject({
      status: 200,
      body: { action: 'rollback', alias: 'production', version: 1, previousVersion: 2, changed: true },
    });

    // Again (a double click, a retry): never forward onto the version just rolled back from.
    const again = await send(handler, ROLLBACK, { name: 'orchestrator', body: {} });
    expect(again).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    expect((await registry.getPrompt(name)).aliases).toMatchObject({ production: 1 });

    const details = await send(handler, DESCRIBE, { name: 'orchestrator', query: { maxResults: '2' } });
    expect(details.status).toBe(200);
    expect(details.body).toMatchObject({
      name,
      prompt: 'orchestrator',
      aliases: { production: 1, staging: 2 },
      latestVersion: 3,
    });
    expect(
      details.body.versions.map((v: { version: number; aliases: string[] }) => [v.version, v.aliases]),
    ).toEqual([
      [3, []],
      [2, ['staging']],
    ]);
    expect(details.body.versions[0]).toMatchObject({
      commitMessage: expect.stringContaining('v: '),
      contentHash: null,
    });
    expect(details.body.versions[0].createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(details.body.nextPageToken).toEqual(expect.any(String));
    expect(details.body.history.production.map((e: { action: string }) => e.action)).toEqual([
      'rollback',
      'promote',
    ]);
    const older = await send(handler, DESCRIBE, {
      name: 'orchestrator',
      query: { maxResults: '2', pageToken: details.body.nextPageToken },
    });
    expect(
      older.body.versions.map((v: { version: number; aliases: string[] }) => [v.version, v.aliases]),
    ).toEqual([[1, ['production']]]);
  });

  it('rolls back to an explicit version', async () => {
    const prefix = freshPrefix();
    const name = await seed(prefix);
    const moved = await send(handlerFor(prefix), ROLLBACK, {
      name: 'orchestrator',
      body: { alias: 'staging', toVersion: 1 },
    });
    expect(moved.body).toMatchObject({ alias: 'staging', version: 1, previousVersion: 2, changed: true });
    expect((await registry.getPrompt(name)).aliases).toMatchObject({ staging: 1 });
  });

  it('lists the agent prompts with their aliases, a page at a time', async () => {
    const prefix = freshPrefix();
    const name = await seed(prefix);
    const handler = handlerFor(prefix);
    const first = await send(handler, LIST, { query: { maxResults: '3' } });
    expect(first.status).toBe(200);
    expect(first.body.prompts.map((p: { prompt: string }) => p.prompt)).toEqual([
      'cost_worker',
      'intent_classifier',
      'orchestrator',
    ]);
    expect(first.body.prompts[2]).toEqual({
      name,
      prompt: 'orchestrator',
      registered: true,
      aliases: { production: 1, staging: 2 },
      latestVersion: 3,
    });
    expect(first.body.prompts[0]).toMatchObject({ registered: false, aliases: {}, latestVersion: null });
    const pages = [first.body];
    while (pages.at(-1).nextPageToken)
      pages.push(
        (await send(handler, LIST, { query: { maxResults: '3', pageToken: pages.at(-1).nextPageToken } }))
          .body,
      );
    expect(pages.flatMap((p) => p.prompts).length).toBe(8);
  });
});

describe('promote function: refusals', () => {
  let prefix: string;
  let name: string;
  let handler: Handler;
  beforeAll(async () => {
    prefix = freshPrefix();
    name = await seed(prefix);
    handler = handlerFor(prefix);
  });

  it.each([
    ['an unknown field', { from: 'staging', force: true }, 'unknown field(s): force'],
    ['the reserved alias latest', { to: 'latest' }, "'latest'"],
    ['a v<number> alias', { to: 'v3' }, 'reserved'],
    ['a non-integer version', { from: 1.5 }, 'version number'],
    ['a string expectedVersion', { expectedVersion: '2' }, 'expectedVersion'],
    ['the same alias twice', { from: 'production', to: 'production' }, 'same alias'],
    ['an empty reason', { reason: '  ' }, 'reason'],
  ])('400 for %s, nothing moved', async (_label, body, words) => {
    const response = await send(handler, PROMOTE, { name: 'orchestrator', body });
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body).toMatchObject({ status: 400, code: 'INVALID_INPUT' });
    expect(JSON.stringify(response.body)).toContain(words);
    expect((await registry.getPrompt(name)).aliases).toEqual({ production: 1, staging: 2 });
  });

  it('400 for a body that is not JSON, a bad rollback version and a bad query', async () => {
    expect((await send(handler, PROMOTE, { name: 'orchestrator', rawBody: '{"from":' })).body).toMatchObject({
      status: 400,
      detail: 'The request body is not valid JSON.',
    });
    expect((await send(handler, ROLLBACK, { name: 'orchestrator', body: { toVersion: 0 } })).status).toBe(
      400,
    );
    expect(
      (await send(handler, DESCRIBE, { name: 'orchestrator', query: { maxResults: 'ten' } })).status,
    ).toBe(400);
    expect((await send(handler, LIST, { query: { pageToken: 'not-a-prompt' } })).status).toBe(400);
  });

  it('401 without an authenticated principal, on every route, whatever the headers say', async () => {
    const override = { 'sls-offline-authorizer-override': JSON.stringify({ iam: { userArn: ADMIN } }) };
    for (const route of [PROMOTE, ROLLBACK, DESCRIBE, LIST]) {
      const response = await send(handler, route, {
        name: 'orchestrator',
        principal: null,
        headers: override,
        body: {},
      });
      expect(response).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
    }
    const notAnArn = await send(handler, PROMOTE, { name: 'orchestrator', principal: 'alice', body: {} });
    expect(notAnArn.status).toBe(401);
    expect((await registry.getPrompt(name)).aliases).toEqual({ production: 1, staging: 2 });
  });

  it('403 when the principal may not move a protected alias, naming the alias', async () => {
    for (const route of [PROMOTE, ROLLBACK]) {
      const response = await send(handler, route, { name: 'orchestrator', principal: DEVELOPER, body: {} });
      expect(response).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
      expect(response.body.detail).toContain("alias 'production' is protected");
      expect(response.body.detail).toContain(DEVELOPER);
    }
    expect((await registry.getPrompt(name)).aliases).toEqual({ production: 1, staging: 2 });
  });

  it('403 for everyone when no principal is allowed', async () => {
    const locked = handlerFor(prefix, { PROTECTED_ALIAS_PRINCIPALS: '' });
    expect((await send(locked, PROMOTE, { name: 'orchestrator', body: {} })).status).toBe(403);
  });

  it('404 for a prompt outside the agent, an unregistered one, a missing alias or version', async () => {
    const outside = await send(handler, PROMOTE, { name: 'marketing_copy', body: {} });
    expect(outside).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(outside.body.detail).toContain("not one of the agent's prompts");
    expect((await send(handler, PROMOTE, { name: 'synthesizer', body: {} })).status).toBe(404);
    expect((await send(handler, DESCRIBE, { name: 'synthesizer' })).status).toBe(404);
    expect((await send(handler, PROMOTE, { name: 'orchestrator', body: { from: 'canary' } })).status).toBe(
      404,
    );
    expect((await send(handler, PROMOTE, { name: 'orchestrator', body: { from: 99 } })).status).toBe(404);
    expect((await send(handler, ROLLBACK, { name: 'orchestrator', body: { toVersion: 99 } })).status).toBe(
      404,
    );
  });

  it('409 when the alias is not where the caller expects, naming the current version', async () => {
    const response = await send(handler, PROMOTE, { name: 'orchestrator', body: { expectedVersion: 3 } });
    expect(response).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    expect(response.body.detail).toContain('points at version 1, not version 3');
    const mustBeNew = await send(handler, PROMOTE, { name: 'orchestrator', body: { expectedVersion: null } });
    expect(mustBeNew.status).toBe(409);
    expect((await registry.getPrompt(name)).aliases).toEqual({ production: 1, staging: 2 });
  });

  it('409 for a rollback with no recorded earlier version', async () => {
    const response = await send(handler, ROLLBACK, { name: 'orchestrator', body: {} });
    expect(response).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    expect(response.body.detail).toContain('no recorded earlier version');
  });

  it('409 MOVE_IN_PROGRESS with Retry-After while another move holds the alias', async () => {
    await dynamodb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          lockId: { S: `${name}#canary` },
          owner: { S: 'someone-else' },
          expiresAt: { N: String(Date.now() + 60_000) },
          expiresAtEpoch: { N: String(Math.ceil(Date.now() / 1000) + 60) },
        },
      }),
    );
    const quick = handlerFor(prefix, { PROMOTE_LOCK_WAIT_MS: '300' });
    const response = await send(quick, PROMOTE, { name: 'orchestrator', body: { to: 'canary' } });
    expect(response).toMatchObject({ status: 409, body: { code: 'MOVE_IN_PROGRESS' } });
    expect(response.headers['retry-after']).toBe('1');
    expect((await registry.getPrompt(name)).aliases).not.toHaveProperty('canary');
  });

  it('422 when the agent cannot format the version, naming the variables', async () => {
    const response = await send(handler, PROMOTE, { name: 'orchestrator', body: { from: 3 } });
    expect(response).toMatchObject({ status: 422, body: { code: 'MISSING_VARIABLES' } });
    expect(response.body.detail).toContain('needs tenant');
    expect(response.body.detail).toContain('context, query');
    expect((await send(handler, ROLLBACK, { name: 'orchestrator', body: { toVersion: 3 } })).status).toBe(
      422,
    );
    expect((await registry.getPrompt(name)).aliases).toEqual({ production: 1, staging: 2 });
  });

  it('503, moving nothing, when too little of the invocation is left to move and record', async () => {
    const late = await send(handler, PROMOTE, { name: 'orchestrator', body: { to: 'preview' } }, 3_000);
    expect(late).toMatchObject({ status: 503, body: { code: 'UNAVAILABLE' } });
    expect((await registry.getPrompt(name)).aliases).not.toHaveProperty('preview');
    const inTime = await send(handler, PROMOTE, { name: 'orchestrator', body: { to: 'preview' } }, 25_000);
    expect(inTime).toMatchObject({ status: 200, body: { changed: true, alias: 'preview' } });
  });

  it('503 when the registry is unreachable, 500 when the lock table is missing; nothing internal leaks', async () => {
    const closed = await freePort();
    const deadSecret = await makeSecret({
      registry: { type: 'mlflow', trackingUri: `http://127.0.0.1:${closed}`, token: TOKEN },
    });
    const down = handlerFor(prefix, { PROMPTOPS_SECRET_ID: deadSecret, PROMPTOPS_HTTP_TIMEOUT_MS: '500' });
    const unavailable = await send(down, PROMOTE, { name: 'orchestrator', body: {} });
    expect(unavailable).toMatchObject({ status: 503, body: { code: 'UNAVAILABLE' } });
    expect(JSON.stringify(unavailable.body)).not.toContain(String(closed));
    expect(JSON.stringify(unavailable.body)).not.toContain(TOKEN);

    const noTable = handlerFor(prefix, { PROMOTE_LOCK_TABLE: 'no-such-table' });
    const broken = await send(noTable, PROMOTE, { name: 'orchestrator', body: {} });
    expect(broken).toMatchObject({ status: 500, body: { code: 'INTERNAL' } });
    expect(JSON.stringify(broken.body)).not.toContain('no-such-table');
    expect(logs.join('\n')).not.toContain(TOKEN);
  });
});
