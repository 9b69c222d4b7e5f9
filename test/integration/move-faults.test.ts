/**
 * Alias moves under faults, as figures: the promote function making 100 promotions and rollbacks
 * through a proxy that faults 30 % of the registry's requests (503, 429, resets, answers lost after
 * the write, slow answers), and the Lambda deadline reached in the middle of a move, in promote
 * and in register. What is held: every move that happened is in the alias's history exactly once,
 * or was reported (AUDIT_INCOMPLETE and its alarm metric); nothing that failed left a change.
 * Real MLflow behind the proxy; the lock in moto's DynamoDB; the secret in moto's Secrets Manager.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRegisterHandler } from '../../functions/register/core';
import { parseRegisterEnv } from '../../lib/config/register-env';
import { type AliasMoveRecord, historyTag, parseHistory } from '../../lib/promote/history';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { createRuntime } from '../../lib/runtime/invocation';
import { createLockTable } from '../../local/lock-table';
import { type FaultyProxy, startFaultyProxy } from '../support/faulty-proxy';
import { httpApiEvent } from '../support/http-api-event';
import { uniqueName } from '../support/names';
import { promoteHandler } from '../support/promote-handler';
import { s3Event } from '../support/s3-events';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const ADMIN = 'arn:aws:sts::123456789012:assumed-role/release-managers/alice';
const table = `locks-${randomUUID().slice(0, 8)}`;
const TEMPLATES = [
  'Route {{query}} with {{context}}.',
  'Route {{query}} given {{context}}.',
  'Send {{query}} on, with {{context}}.',
];

let registry: RegistryClient;
let dynamodb: DynamoDBClient;
let secretsManager: SecretsManagerClient;
let proxy: FaultyProxy;
let viaProxy: string;

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  dynamodb = new DynamoDBClient({});
  secretsManager = new SecretsManagerClient({});
  registry = createRegistryClient({ trackingUri: mlflowUri });
  proxy = await startFaultyProxy(mlflowUri);
  viaProxy = await makeSecret(secretsManager, {
    registry: { type: 'mlflow', trackingUri: proxy.url, token: `tok-${randomUUID()}` },
  });
  await createLockTable(dynamodb, table);
});
afterAll(() => proxy?.close());

/** The orchestrator under a fresh prefix, with three versions, production on 1 (recorded). */
async function seeded(): Promise<{ prefix: string; name: string }> {
  const prefix = `it.faults.${randomUUID().slice(0, 8)}.`;
  const name = `${prefix}orchestrator`;
  for (const template of TEMPLATES) await registry.registerPrompt({ name, template });
  return { prefix, name };
}

function promoteFunction(prefix: string, logs: string[]) {
  return promoteHandler({
    secretId: viaProxy,
    prefix,
    table,
    secretsManager,
    dynamodb,
    logs,
    now: new Date('2026-12-06T12:00:00.000Z'),
  });
}

async function call(
  handler: ReturnType<typeof promoteFunction>,
  routeKey: string,
  body: unknown,
  remainingMs: number,
) {
  const answer = await handler(
    httpApiEvent({
      routeKey,
      rawPath: '/',
      principal: ADMIN,
      pathParameters: { name: 'orchestrator' },
      body,
    }),
    { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => remainingMs },
  );
  return { status: answer.statusCode ?? 0, body: JSON.parse(answer.body ?? 'null') };
}

async function stateOf(name: string): Promise<{ alias: number | null; history: AliasMoveRecord[] }> {
  const prompt = await registry.getPrompt(name);
  return {
    alias: prompt.aliases.production ?? null,
    history: parseHistory(prompt.tags[historyTag('production')]).entries,
  };
}

const incompleteReported = (logs: readonly string[]) =>
  logs.some((l) => l.includes('"AuditIncomplete"')) &&
  logs.some((l) => l.includes('change made without its record'));

describe('promote under 30 % injected faults', () => {
  it('records every one of 100 promotions and rollbacks exactly once, or reports it; none lost', async () => {
    const { prefix, name } = await seeded();
    const logs: string[] = [];
    const handler = promoteFunction(prefix, logs);
    proxy.injectFaults({ rate: 0.3, seed: 17, slowMs: [100, 800], retryAfterSeconds: [0, 1] });
    const tally = { moved: 0, unchanged: 0, refused: 0, failedUnchanged: 0, incomplete: 0, lost: 0 };
    const statuses = new Map<number, number>();
    try {
      for (let i = 0; i < 100; i += 1) {
        const before = await stateOf(name);
        const reason = `op-${i}`;
        logs.length = 0;
        // Even: a promotion onto the next version round; odd: a rollback of production.
        const answer =
          i % 2 === 0
            ? await call(
                handler,
                'POST /prompts/{name}/promote',
                { from: ((before.alias ?? 0) % TEMPLATES.length) + 1, to: 'production', reason },
                29_000,
              )
            : await call(handler, 'POST /prompts/{name}/rollback', { alias: 'production', reason }, 29_000);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const after = await stateOf(name);
        const recorded = after.history.filter((e) => e.reason === reason);
        const last = after.history.at(-1);
        if (answer.status === 200 && answer.body.changed) {
          // Moved: recorded once, where the answer says, and the alias is there.
          expect(recorded, reason).toHaveLength(1);
          expect(recorded[0]?.version, reason).toBe(answer.body.version);
          expect(after.alias, reason).toBe(answer.body.version);
          tally.moved += 1;
        } else if (answer.status === 200) {
          expect(recorded, reason).toHaveLength(0);
          tally.unchanged += 1;
        } else if (incompleteReported(logs)) {
          tally.incomplete += 1;
        } else if (answer.status < 500) {
          // Refused (a rollback with nowhere to go, a conflict): nothing written.
          expect(after, reason).toEqual(before);
          tally.refused += 1;
        } else {
          // Failed without a report: then nothing may have changed.
          expect(after, reason).toEqual(before);
          tally.failedUnchanged += 1;
        }
        // Whatever happened, the alias is where its history says, unless a report said otherwise.
        if (!incompleteReported(logs) && after.alias !== (last?.version ?? null)) tally.lost += 1;
      }
    } finally {
      proxy.stopFaults();
    }
    const faults = proxy.injected;
    console.log(
      `promote under 30% faults: 100 moves asked; moved and recorded once ${tally.moved}, ` +
        `already there ${tally.unchanged}, refused unchanged ${tally.refused}, failed unchanged ${tally.failedUnchanged}, ` +
        `reported incomplete ${tally.incomplete}, lost ${tally.lost}; answers ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `faults injected: 503 ${faults['503']}, 429 ${faults['429']}, reset ${faults.reset}, lost ${faults.lost}, slow ${faults.slow} ` +
        `of ${proxy.considered} requests`,
    );
    expect(tally.lost).toBe(0);
    expect(tally.moved + tally.unchanged + tally.refused + tally.failedUnchanged + tally.incomplete).toBe(
      100,
    );
    // The faults were there, and most moves went through them.
    expect(Object.values(faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(50);
    expect(tally.moved).toBeGreaterThan(50);
  }, 600_000);
});

describe('the Lambda deadline reached in the middle of a move', () => {
  const ALIAS_WRITE = /^POST \/api\/2\.0\/mlflow\/registered-models\/alias$/;

  it('promote: a write whose answer comes too late is read back and recorded, within the invocation', async () => {
    const { prefix, name } = await seeded();
    await registry.setAlias(name, 'production', 1);
    const logs: string[] = [];
    // The move reaches MLflow; its answer would come 60 s later, long after the Lambda's end.
    proxy.holdAnswers(ALIAS_WRITE, 60_000);
    const started = Date.now();
    try {
      const answer = await call(
        promoteFunction(prefix, logs),
        'POST /prompts/{name}/promote',
        { from: 2, to: 'production', reason: 'late answer' },
        16_000,
      );
      expect(Date.now() - started).toBeLessThan(16_000);
      expect(answer).toMatchObject({ status: 200, body: { version: 2, previousVersion: 1, changed: true } });
    } finally {
      proxy.up();
    }
    const after = await stateOf(name);
    expect(after.alias).toBe(2);
    expect(after.history.map((e) => [e.version, e.reason])).toEqual([[2, 'late answer']]);
    expect(logs.some((l) => l.includes('"audit":true') && l.includes('alias moved'))).toBe(true);
  }, 30_000);

  it('promote: a write that cannot be read back is reported, with the alarm metric, before the Lambda ends', async () => {
    const { prefix, name } = await seeded();
    await registry.setAlias(name, 'production', 1);
    const logs: string[] = [];
    proxy.seen.length = 0;
    proxy.holdAnswers(ALIAS_WRITE, 60_000);
    // Once the move has reached MLflow, every read fails: the outcome cannot be learnt.
    const watch = setInterval(() => {
      if (proxy.seen.some((s) => ALIAS_WRITE.test(s))) proxy.failPaths(/registered-models\/get|search/, 503);
    }, 20);
    const started = Date.now();
    try {
      const answer = await call(
        promoteFunction(prefix, logs),
        'POST /prompts/{name}/promote',
        { from: 2, to: 'production', reason: 'unknown outcome' },
        16_000,
      );
      expect(Date.now() - started).toBeLessThan(16_000);
      expect(answer.status).toBe(500);
      expect(JSON.stringify(answer.body)).not.toMatch(/registered-models|127\.0\.0\.1/);
    } finally {
      clearInterval(watch);
      proxy.up();
      proxy.seen.length = 0;
    }
    expect(incompleteReported(logs)).toBe(true);
    expect(logs.some((l) => l.includes('may have been moved to version 2'))).toBe(true);
    // And verify would say so too: the alias moved, its history does not have it.
    expect((await stateOf(name)).alias).toBe(2);
  }, 30_000);

  it('register: the staging move whose answer comes too late is read back and recorded', async () => {
    const s3 = new S3Client({});
    const bucket = `faults-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const short = uniqueName('late');
    const key = `prompts/${short}.md`;
    // Registered before, production set: the upload makes version 2 and moves staging alone.
    await registry.registerPrompt({ name: short, template: 'Answer briefly {{ q }}' });
    await registry.setAlias(short, 'production', 1);
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: `---\nname: ${short}\nvariables: [q]\n---\nAnswer {{ q }}\n`,
      }),
    );
    const env = parseRegisterEnv({
      PROMPTOPS_SECRET_ID: viaProxy,
      PROMPTS_BUCKET: bucket,
      PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
      PROMOTE_LOCK_TABLE: table,
    });
    const logs: string[] = [];
    const runtime = createRuntime(env, {
      functionName: 'register',
      secretsManager,
      write: (l) => logs.push(l),
    });
    const handler = createRegisterHandler({ env, runtime, s3, dynamodb });
    proxy.holdAnswers(ALIAS_WRITE, 60_000);
    const started = Date.now();
    try {
      const summary = await handler(s3Event([{ bucket, key }]), {
        awsRequestId: randomUUID(),
        getRemainingTimeInMillis: () => 18_000,
      });
      expect(Date.now() - started).toBeLessThan(18_000);
      expect(summary.results).toEqual([expect.objectContaining({ status: 'created', version: 2 })]);
    } finally {
      proxy.up();
    }
    const prompt = await registry.getPrompt(short);
    expect(prompt.aliases).toEqual({ production: 1, staging: 2 });
    expect(parseHistory(prompt.tags[historyTag('staging')]).entries).toEqual([
      expect.objectContaining({ action: 'register', version: 2, previousVersion: null }),
    ]);
  }, 60_000);
});
