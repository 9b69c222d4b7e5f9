/**
 * The promote API end to end over HTTP: serverless.yml served by serverless-offline on loopback
 * (the functions bundled by serverless-esbuild, as for a deploy, each concurrent request in a
 * worker thread of its own), the registry secret and the alias lock table in moto, the prompts in
 * the real MLflow server. The caller's principal travels in serverless-offline's authorizer
 * override header, which stands in for API Gateway's IAM authorization (local/offline.ts).
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { historyTag, parseHistory } from '../../lib/promote/history';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { createLockTable } from '../../local/lock-table';
import { runCli } from '../support/cli';
import { asPrincipal, type OfflineServer, startOffline } from '../support/offline';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const RELEASE_MANAGER = 'arn:aws:iam::000000000000:user/release-alice';
const DEVELOPER = 'arn:aws:iam::000000000000:user/dev-bob';
const PREFIX = `it.offline.${randomUUID().slice(0, 8)}.`;
const NAME = `${PREFIX}orchestrator`;

let registry: RegistryClient;
let offline: OfflineServer;

async function call(
  method: 'GET' | 'POST',
  path: string,
  options: { principal?: string; body?: unknown } = {},
) {
  const response = await fetch(`${offline.url}${path}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.principal === undefined ? {} : asPrincipal(options.principal)),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? null : JSON.parse(text) };
}

async function productionHistory() {
  const prompt = await registry.getPrompt(NAME);
  return {
    version: prompt.aliases.production,
    entries: parseHistory(prompt.tags[historyTag('production')]).entries,
  };
}

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  registry = createRegistryClient({ trackingUri: mlflowUri });
  // orchestrator v1 and v2 (the agent supplies query and context): production at v1, staging at v2.
  await registry.registerPrompt({ name: NAME, template: 'Route {{query}} with {{context}}.' });
  await registry.registerPrompt({ name: NAME, template: 'Route the question {{query}} given {{context}}.' });
  await registry.setAlias(NAME, 'production', 1);
  await registry.setAlias(NAME, 'staging', 2);

  const secretId = `promptops/it/offline-${randomUUID()}`;
  await new SecretsManagerClient({}).send(
    new CreateSecretCommand({
      Name: secretId,
      SecretString: JSON.stringify({ registry: { type: 'mlflow', trackingUri: mlflowUri } }),
    }),
  );
  const lockTable = `it-alias-locks-${randomUUID().slice(0, 8)}`;
  await createLockTable(new DynamoDBClient({}), lockTable);

  const started = Date.now();
  offline = await startOffline({
    motoUrl: motoUri,
    secretId,
    lockTable,
    params: { promptNamePrefix: PREFIX, promoterPrincipals: 'arn:aws:iam::000000000000:user/release-*' },
  });
  console.info(`serverless-offline served ${offline.url} after ${Date.now() - started} ms`);
}, 180_000);

afterAll(async () => {
  await offline?.stop();
});

describe('promote API over HTTP (serverless-offline)', () => {
  it('answers 401 on every route when the request names no principal', async () => {
    for (const [method, path] of [
      ['POST', '/prompts/orchestrator/promote'],
      ['POST', '/prompts/orchestrator/rollback'],
      ['GET', '/prompts/orchestrator'],
      ['GET', '/prompts'],
    ] as const) {
      const answer = await call(method, path, method === 'POST' ? { body: {} } : {});
      expect(answer.status, `${method} ${path}`).toBe(401);
      expect(answer.headers.get('content-type')).toBe('application/problem+json');
      expect(answer.body).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    }
    expect((await registry.getPrompt(NAME)).aliases).toEqual({ production: 1, staging: 2 });
  });

  it('answers 403 to a principal outside promoterPrincipals, moving nothing', async () => {
    const answer = await call('POST', '/prompts/orchestrator/promote', { principal: DEVELOPER, body: {} });
    expect(answer).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect(answer.body.detail).toContain(DEVELOPER);
    expect((await registry.getPrompt(NAME)).aliases).toEqual({ production: 1, staging: 2 });
  });

  it('promotes staging to production, rolls back, and shows the history', async () => {
    const promoted = await call('POST', '/prompts/orchestrator/promote', {
      principal: RELEASE_MANAGER,
      body: { expectedVersion: 1, reason: 'evaluation run 7 passed' },
    });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({
      name: NAME,
      prompt: 'orchestrator',
      action: 'promote',
      alias: 'production',
      version: 2,
      previousVersion: 1,
      changed: true,
      by: RELEASE_MANAGER,
    });
    expect((await registry.getPrompt(NAME)).aliases).toEqual({ production: 2, staging: 2 });

    const back = await call('POST', '/prompts/orchestrator/rollback', {
      principal: RELEASE_MANAGER,
      body: { reason: 'latency regression' },
    });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ action: 'rollback', version: 1, previousVersion: 2, changed: true });
    expect((await registry.getPrompt(NAME)).aliases).toEqual({ production: 1, staging: 2 });

    // The registry name works in the path too.
    for (const path of ['/prompts/orchestrator', `/prompts/${NAME}`]) {
      const details = await call('GET', path, { principal: DEVELOPER });
      expect(details.status, path).toBe(200);
      expect(details.body).toMatchObject({
        name: NAME,
        prompt: 'orchestrator',
        aliases: { production: 1, staging: 2 },
        latestVersion: 2,
      });
      expect(details.body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
      expect(details.body.history.production).toMatchObject([
        {
          action: 'rollback',
          version: 1,
          previousVersion: 2,
          by: RELEASE_MANAGER,
          reason: 'latency regression',
        },
        {
          action: 'promote',
          version: 2,
          previousVersion: 1,
          by: RELEASE_MANAGER,
          reason: 'evaluation run 7 passed',
        },
      ]);
    }

    const listing = await call('GET', '/prompts', { principal: DEVELOPER });
    expect(listing.status).toBe(200);
    expect(listing.body.prompts).toContainEqual({
      name: NAME,
      prompt: 'orchestrator',
      registered: true,
      aliases: { production: 1, staging: 2 },
      latestVersion: 2,
    });
  });

  it('lets exactly one of 20 concurrent promotions from the same expected version through', async () => {
    const before = await productionHistory();
    expect(before.version).toBe(1);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call('POST', '/prompts/orchestrator/promote', {
          principal: RELEASE_MANAGER,
          body: { expectedVersion: before.version, reason: `concurrent promotion ${i}` },
        }),
      ),
    );
    const elapsed = Date.now() - started;
    console.info(
      `20 concurrent promotions in ${elapsed} ms: ${JSON.stringify(answers.map((a) => a.body?.code ?? a.status))}`,
    );

    const winners = answers.filter((a) => a.status === 200);
    expect(winners).toHaveLength(1);
    expect(winners[0]?.body).toMatchObject({ changed: true, version: 2, previousVersion: 1 });
    for (const loser of answers.filter((a) => a.status !== 200)) {
      expect([409, 429]).toContain(loser.status);
      expect(['CONFLICT', 'MOVE_IN_PROGRESS', 'RATE_LIMITED']).toContain(loser.body.code);
    }

    const after = await productionHistory();
    expect(after.version).toBe(2);
    expect(after.entries).toHaveLength(before.entries.length + 1);
    expect(after.entries.slice(0, before.entries.length)).toEqual(before.entries);
    expect(after.entries.at(-1)).toMatchObject({
      action: 'promote',
      version: 2,
      previousVersion: 1,
      by: RELEASE_MANAGER,
      reason: expect.stringMatching(/^concurrent promotion \d+$/),
    });
  });

  it('goes through the same API from the CLI: promote, refusal, history', async () => {
    const env = { PROMPTOPS_API_URL: offline.url, PROMPTOPS_LOCAL_PRINCIPAL: RELEASE_MANAGER };
    const current = (await registry.getPrompt(NAME)).aliases.production;
    const moved = await runCli(
      [
        'promote',
        'orchestrator',
        '--from',
        '1',
        '--to',
        'canary',
        '--expected-version',
        'none',
        '--reason',
        'cli',
      ],
      env,
    );
    expect(moved).toMatchObject({ code: 0, stderr: '' });
    expect(moved.stdout).toContain('orchestrator: canary none → 1');
    const refused = await runCli(['promote', 'orchestrator', '--expected-version', '99'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `promptops: CONFLICT: Alias 'production' of '${NAME}' points at version ${current}`,
    );
    const history = await runCli(['history', 'orchestrator'], env);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain('canary history, newest first');
    expect((await registry.getPrompt(NAME)).aliases).toMatchObject({ canary: 1, production: current });
  });
});
