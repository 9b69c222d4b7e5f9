/**
 * The experiment routes of the promote function (`POST`, `GET`, `DELETE /prompts/{name}/experiment`)
 * with HTTP API events as API Gateway shapes them: the real MLflow server, the secret in moto's
 * Secrets Manager, the lock in moto's DynamoDB. An experiment is held to an alias move's rules:
 * who may change production's traffic, the promotion gate for every alias it serves, the caller's
 * expected revision, and a history entry for every change, or nothing written.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseExperimentTag } from '../../lib/experiments/definition';
import { parseExperimentHistory } from '../../lib/experiments/history';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { TAG_KEYS } from '../../lib/registry/tag-keys';
import { createLockTable } from '../../local/lock-table';
import { startFaultyProxy } from '../support/faulty-proxy';
import { httpApiEvent } from '../support/http-api-event';
import { promoteHandler } from '../support/promote-handler';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const ADMIN = 'arn:aws:sts::123456789012:assumed-role/release-managers/alice';
const DEVELOPER = 'arn:aws:iam::123456789012:user/bob';
const table = `locks-${randomUUID().slice(0, 8)}`;
const NOW = '2026-12-06T09:00:00.000Z';
const EXPERIMENT = 'POST /prompts/{name}/experiment';
const SHOW = 'GET /prompts/{name}/experiment';
const STOP = 'DELETE /prompts/{name}/experiment';

let registry: RegistryClient;
let dynamodb: DynamoDBClient;
let secretsManager: SecretsManagerClient;
let secretId: string;
const logs: string[] = [];

/** orchestrator v1 (production), v2 (candidate), v3 (needs a variable the agent lacks: `broken`). */
async function seed(): Promise<{ prefix: string; name: string }> {
  const prefix = `it.exp.${randomUUID().slice(0, 8)}.`;
  const name = `${prefix}orchestrator`;
  for (const template of [
    'Route {{query}} with {{context}}.',
    'Route {{query}} with {{context}}. Be brief.',
    'Route {{query}} with {{context}} for {{tenant}}.',
  ])
    await registry.registerPrompt({ name, template });
  await registry.setAlias(name, 'production', 1);
  await registry.setAlias(name, 'candidate', 2);
  await registry.setAlias(name, 'broken', 3);
  return { prefix, name };
}

function handlerFor(prefix: string) {
  return promoteHandler({ secretId, prefix, table, secretsManager, dynamodb, logs, now: new Date(NOW) });
}

async function send(
  handler: ReturnType<typeof handlerFor>,
  routeKey: string,
  call: { principal?: string; body?: unknown; name?: string },
) {
  const response = (await handler(
    httpApiEvent({
      routeKey,
      rawPath: '/',
      principal: call.principal ?? ADMIN,
      pathParameters: { name: call.name ?? 'orchestrator' },
      body: call.body,
    }),
    { awsRequestId: randomUUID() },
  )) as APIGatewayProxyStructuredResultV2;
  return { status: response.statusCode, body: JSON.parse(response.body ?? 'null') };
}

const tagsOf = async (name: string) => (await registry.getPrompt(name)).tags;
const START = { id: 'brevity', variants: [{ alias: 'candidate', weight_bp: 2_000 }], reason: 'try brevity' };

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  dynamodb = new DynamoDBClient({});
  secretsManager = new SecretsManagerClient({});
  registry = createRegistryClient({ trackingUri: mlflowUri });
  secretId = await makeSecret(secretsManager, { registry: { type: 'mlflow', trackingUri: mlflowUri } });
  await createLockTable(dynamodb, table);
});

describe('the experiment API', () => {
  it("refuses a split of production's traffic to a principal who may not move production (403), writing nothing", async () => {
    const { prefix, name } = await seed();
    const refused = await send(handlerFor(prefix), EXPERIMENT, { principal: DEVELOPER, body: START });
    expect(refused).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect(refused.body.detail).toContain("'production' is protected");
    expect(Object.keys(await tagsOf(name)).filter((k) => k.startsWith('promptops.'))).toEqual([]);
    // On unprotected aliases the same principal may run one.
    const own = await send(handlerFor(prefix), EXPERIMENT, {
      principal: DEVELOPER,
      body: { ...START, control: 'candidate', variants: [{ alias: 'staging-b', weight_bp: 100 }] },
    });
    // staging-b does not exist: the variant must resolve.
    expect(own).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
  });

  it('starts, answers again unchanged, changes the split, shows it, and stops it, each change in the history', async () => {
    logs.length = 0;
    const { prefix, name } = await seed();
    const handler = handlerFor(prefix);
    const started = await send(handler, EXPERIMENT, { body: START });
    expect(started).toMatchObject({
      status: 200,
      body: {
        prompt: 'orchestrator',
        name,
        action: 'start',
        changed: true,
        previousRevision: null,
        by: ADMIN,
        at: NOW,
      },
    });
    expect(started.body.experiment).toMatchObject({
      id: 'brevity',
      revision: 1,
      control: 'production',
      key: 'user',
      status: 'running',
      started_at: NOW,
      variants: [{ alias: 'candidate', weight_bp: 2_000 }],
    });
    const tags = await tagsOf(name);
    expect(parseExperimentTag(name, tags[TAG_KEYS.oss.experiment] as string)).toEqual(
      started.body.experiment,
    );
    // The audit line and the metric.
    const audit = logs.map((l) => JSON.parse(l)).find((l) => l.audit === true && l.name === name);
    expect(audit).toMatchObject({
      message: 'experiment start',
      experiment: 'brevity',
      revision: 1,
      by: ADMIN,
    });
    expect(logs.some((l) => l.includes('"ExperimentChanged"'))).toBe(true);

    // A retry of the same start: nothing written, the revision stays.
    const again = await send(handler, EXPERIMENT, { body: START });
    expect(again.body).toMatchObject({ changed: false, experiment: { revision: 1 } });

    const changed = await send(handler, EXPERIMENT, {
      body: {
        ...START,
        variants: [{ alias: 'candidate', weight_bp: 5_000 }],
        expectedRevision: 1,
        reason: 'widen',
      },
    });
    expect(changed.body).toMatchObject({
      action: 'change',
      changed: true,
      previousRevision: 1,
      experiment: { revision: 2, started_at: NOW, variants: [{ alias: 'candidate', weight_bp: 5_000 }] },
    });
    // A stale expectation conflicts and changes nothing.
    const stale = await send(handler, EXPERIMENT, {
      body: { ...START, variants: [{ alias: 'candidate', weight_bp: 9_000 }], expectedRevision: 1 },
    });
    expect(stale).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    // Another experiment while this one runs: stop it first.
    const other = await send(handler, EXPERIMENT, { body: { ...START, id: 'other' } });
    expect(other).toMatchObject({ status: 409 });
    expect(other.body.detail).toContain("stop it before starting 'other'");

    const stopRefused = await send(handler, STOP, { principal: DEVELOPER, body: {} });
    expect(stopRefused.status).toBe(403);
    const stopped = await send(handler, STOP, { body: { expectedRevision: 2, reason: 'enough data' } });
    expect(stopped.body).toMatchObject({
      action: 'stop',
      changed: true,
      experiment: { revision: 3, status: 'halted' },
    });
    const stoppedAgain = await send(handler, STOP, { body: {} });
    expect(stoppedAgain.body).toMatchObject({ changed: false, experiment: { revision: 3 } });

    const shown = await send(handler, SHOW, {});
    expect(shown.status).toBe(200);
    expect(shown.body.experiment).toMatchObject({ id: 'brevity', revision: 3, status: 'halted' });
    expect(
      shown.body.history.map((h: { action: string; revision: number }) => `${h.action}#${h.revision}`),
    ).toEqual(['stop#3', 'change#2', 'start#1']);
    expect(shown.body.history[0]).toMatchObject({
      by: ADMIN,
      reason: 'enough data',
      weights: { candidate: 5_000 },
    });
    expect(parseExperimentHistory((await tagsOf(name))[TAG_KEYS.oss.experimentHistory])).toHaveLength(3);

    // Once stopped, a new experiment may start; its revision continues (id#revision stays unique on traces).
    const next = await send(handler, EXPERIMENT, { body: { ...START, id: 'other' } });
    expect(next.body).toMatchObject({ action: 'start', experiment: { id: 'other', revision: 4 } });
  });

  it('refuses a variant the agent could not format (the promotion gate) and bad bodies, naming what is wrong', async () => {
    const { prefix, name } = await seed();
    const handler = handlerFor(prefix);
    const gated = await send(handler, EXPERIMENT, {
      body: { ...START, variants: [{ alias: 'broken', weight_bp: 1_000 }] },
    });
    expect(gated.status).toBe(422);
    expect(gated.body.detail).toContain('tenant');
    for (const [body, field] of [
      [{ ...START, surprise: 1 }, 'surprise'],
      [{ ...START, variants: [{ alias: 'candidate', weight_bp: 10_001 }] }, 'weight_bp'],
      [{ ...START, id: 'Not An Id' }, 'id'],
      [{ ...START, guardrails: 'error_rate<=lots' }, 'error_rate<=lots'],
      [{ ...START, guardrails: 'p95_latency<=+5pp' }, "the others in '%'"],
      [{ ...START, variants: [{ alias: 'candidate' }] }, 'weight_bp'],
      [{ ...START, variants: [{ alias: 'candidate' }], rollout: { steps: [10, 100] } }, 'guardrails'],
      [{ ...START, rollout: { steps: [10, 100] }, guardrails: 'error_rate<=+1pp' }, 'leave it out'],
      [{ ...START, variants: [{ alias: 'production', weight_bp: 100 }] }, 'control'],
    ] as const) {
      const refused = await send(handler, EXPERIMENT, { body });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(refused.body), JSON.stringify(body)).toContain(field);
    }
    expect(Object.keys(await tagsOf(name)).filter((k) => k.startsWith('promptops.'))).toEqual([]);
  });

  it("records each variant's version, and guards a served alias as its control: a developer may not repoint the variant", async () => {
    const { prefix, name } = await seed();
    const handler = handlerFor(prefix);
    const started = await send(handler, EXPERIMENT, { body: START });
    expect(started.body.experiment.variants).toEqual([{ alias: 'candidate', weight_bp: 2_000, version: 2 }]);
    expect(started.body.experiment.control_version).toBe(1);
    const repoint = { from: 1, to: 'candidate', reason: 'swap the variant' };
    const refused = await send(handler, 'POST /prompts/{name}/promote', {
      principal: DEVELOPER,
      body: repoint,
    });
    expect(refused).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect(refused.body.detail).toContain("served by experiment 'brevity'");
    expect((await registry.getPrompt(name)).aliases.candidate).toBe(2);
    // A rollback of it too.
    const back = await send(handler, 'POST /prompts/{name}/rollback', {
      principal: DEVELOPER,
      body: { alias: 'candidate', toVersion: 1 },
    });
    expect(back).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    // Once stopped, the alias is anyone's again.
    await send(handler, STOP, { body: {} });
    const moved = await send(handler, 'POST /prompts/{name}/promote', {
      principal: DEVELOPER,
      body: repoint,
    });
    expect(moved).toMatchObject({ status: 200, body: { alias: 'candidate', version: 1 } });
    // `expectedRevision: null` asks that none be running: true once stopped.
    await registry.setAlias(name, 'candidate', 2);
    const again = await send(handler, EXPERIMENT, {
      body: { ...START, id: 'again', expectedRevision: null },
    });
    expect(again.body).toMatchObject({ action: 'start', experiment: { id: 'again', revision: 3 } });
    const whileRunning = await send(handler, EXPERIMENT, {
      body: { ...START, id: 'again', expectedRevision: null },
    });
    expect(whileRunning).toMatchObject({ status: 409 });
  });

  it("refuses 'staging' as a variant (every upload moves it), and keeps counting revisions when the tag is edited away", async () => {
    const { prefix, name } = await seed();
    const handler = handlerFor(prefix);
    await registry.setAlias(name, 'staging', 2);
    const staging = await send(handler, EXPERIMENT, {
      body: { ...START, variants: [{ alias: 'staging', weight_bp: 100 }] },
    });
    expect(staging.status).toBe(400);
    expect(staging.body.detail).toContain("cannot be 'staging'");
    await send(handler, EXPERIMENT, { body: START });
    await send(handler, STOP, { body: {} });
    await registry.deletePromptTag(name, TAG_KEYS.oss.experiment);
    const restarted = await send(handler, EXPERIMENT, { body: START });
    expect(restarted.body.experiment.revision).toBe(3);
  });

  it("puts the split back when its writes' answers are lost at the deadline, and reports it", async () => {
    const { prefix, name } = await seed();
    const proxy = await startFaultyProxy(mlflowUri);
    try {
      const viaProxy = await makeSecret(secretsManager, {
        registry: { type: 'mlflow', trackingUri: proxy.url },
      });
      const handler = promoteHandler({
        secretId: viaProxy,
        prefix,
        table,
        secretsManager,
        dynamodb,
        logs,
        now: new Date(NOW),
      });
      // The experiment tag's write reaches MLflow; its answer would come long after the Lambda's end.
      proxy.holdAnswers(/^POST \/api\/2\.0\/mlflow\/registered-models\/set-tag$/, 60_000);
      const started = Date.now();
      const answer = await handler(
        httpApiEvent({
          routeKey: EXPERIMENT,
          rawPath: '/',
          principal: ADMIN,
          pathParameters: { name: 'orchestrator' },
          body: START,
        }),
        { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 16_000 },
      );
      expect(Date.now() - started).toBeLessThan(16_000);
      // Its history write got no answer either: both put back, and since a write whose answer was
      // lost may still land, that is reported (AUDIT_INCOMPLETE), not said to be nothing.
      expect(answer).toMatchObject({ statusCode: 500 });
      expect(logs.some((l) => l.includes('AUDIT_INCOMPLETE') && l.includes('may still land'))).toBe(true);
    } finally {
      proxy.up();
      await proxy.close();
    }
    // Not recorded, so not made: no split, no history.
    expect(Object.keys(await tagsOf(name)).filter((k) => k.startsWith('promptops.experiment'))).toEqual([]);
  }, 30_000);

  it('starts a guarded rollout at its first step', async () => {
    const { prefix } = await seed();
    const started = await send(handlerFor(prefix), EXPERIMENT, {
      body: {
        id: 'roll',
        variants: [{ alias: 'candidate' }],
        guardrails: 'error_rate<=+1pp,p95_latency<=+20%',
        rollout: { steps: [5, 25, 50, 100] },
      },
    });
    expect(started.body.experiment).toMatchObject({
      variants: [{ alias: 'candidate', weight_bp: 500 }],
      rollout: { steps: [5, 25, 50, 100], step: 0 },
      guardrails: [
        { metric: 'error_rate', comparison: '<=', limit: 1, unit: 'pp' },
        { metric: 'p95_latency', comparison: '<=', limit: 20, unit: '%' },
      ],
    });
  });
});
