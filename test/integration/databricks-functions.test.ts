/**
 * Every function on Unity Catalog, end to end, with each Databricks credential: register (files
 * put in moto's S3), promote and rollback (the HTTP API, the alias lock in moto's DynamoDB),
 * predict (prompts by alias, the model a serving endpoint, the trace and its links) and verify,
 * the secret in moto's Secrets Manager holding the workspace and either a personal access token
 * or a service principal. The workspace is the Databricks contract server (no workspace here).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assemblePredict } from '../../functions/predict/assemble';
import { ROUTE } from '../../functions/predict/core';
import { createPromoteHandler } from '../../functions/promote/core';
import { createRegisterHandler } from '../../functions/register/core';
import { createVerifyHandler } from '../../functions/verify/core';
import { parsePredictEnv } from '../../lib/config/predict-env';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { parseRegisterEnv } from '../../lib/config/register-env';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { patCredentials } from '../../lib/databricks/credentials';
import { createDatabricksRegistryClient } from '../../lib/databricks/registry';
import { historyTag, parseHistory } from '../../lib/promote/history';
import type { RegistryClient } from '../../lib/registry';
import { createRuntime } from '../../lib/runtime/invocation';
import { createLockTable } from '../../local/lock-table';
import { STANDIN_LABEL } from '../../local/model-standin';
import { agentPromptFiles } from '../support/agent-prompts';
import { type DatabricksContract, startDatabricksContract } from '../support/databricks-contract/server';
import { httpApiEvent } from '../support/http-api-event';
import { s3Event } from '../support/s3-events';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const motoUri = inject('motoUri');
const PAT = `dapi-${randomUUID().replaceAll('-', '')}`;
const CLIENT_ID = 'sp-functions';
const CLIENT_SECRET = `sp-secret-${randomUUID()}`;
const ENDPOINT = 'databricks-claude-sonnet-4';
const CATALOG = 'main';
const EXPERIMENT = '/Shared/promptops';
const ADMIN = 'arn:aws:sts::123456789012:assumed-role/release-managers/alice';

let contract: DatabricksContract;
let s3: S3Client;
let secretsManager: SecretsManagerClient;
let dynamodb: DynamoDBClient;
/** Reads what the functions wrote, as an operator would (a PAT of its own). */
let reader: RegistryClient;
const bucket = `uc-prompts-${randomUUID().slice(0, 8)}`;
const table = `uc-locks-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  s3 = new S3Client({});
  secretsManager = new SecretsManagerClient({});
  dynamodb = new DynamoDBClient({});
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await createLockTable(dynamodb, table);
  contract = await startDatabricksContract({
    pats: [PAT],
    clients: { [CLIENT_ID]: CLIENT_SECRET },
    servingEndpoints: [ENDPOINT],
  });
  reader = createDatabricksRegistryClient({ credentials: patCredentials(contract.url, PAT) });
});
afterAll(() => contract?.close());

/** A verify function instance (a cold start of its own) on a schema of the contract's catalog. */
function verifyInstance(secretId: string, schema: string) {
  const env = parseVerifyEnv({
    PROMPTOPS_SECRET_ID: secretId,
    PROMPT_CATALOG: CATALOG,
    PROMPT_SCHEMA: schema,
  });
  const runtime = createRuntime(env, { functionName: 'verify', secretsManager, write: () => {} });
  const handler = createVerifyHandler({ env, runtime });
  return { runtime, handler };
}

const CREDENTIALS = [
  { label: 'a personal access token', registry: () => ({ token: PAT }), auth: 'bearer pat' },
  {
    label: 'a service principal (OAuth M2M)',
    registry: () => ({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
    auth: 'bearer oauth',
  },
] as const;

describe.each(CREDENTIALS)('on Unity Catalog with $label', (credential) => {
  const schema = `health_${randomUUID().slice(0, 8)}`;
  const naming = { PROMPT_CATALOG: CATALOG, PROMPT_SCHEMA: schema };
  const uc = (short: string) => `${CATALOG}.${schema}.prompt_${short}`;
  const logs: string[] = [];
  let secretId: string;
  let tokensBefore: number;

  beforeAll(async () => {
    secretId = await makeSecret(secretsManager, {
      registry: { type: 'databricks', host: contract.url, ...credential.registry() },
      model: { servingEndpoint: ENDPOINT },
    });
    tokensBefore = contract.tokensIssued;
  });

  /** Function instances (cold starts) so far: each has its own secret cache, so its own credentials. */
  let instances = 0;
  const runtimeFor = <E extends Parameters<typeof createRuntime>[0]>(env: E, functionName: string) => {
    instances += 1;
    return createRuntime(env, { functionName, secretsManager, write: (l) => logs.push(l) });
  };

  async function upload(files: readonly { name: string; text: string }[]) {
    const env = parseRegisterEnv({
      PROMPTOPS_SECRET_ID: secretId,
      PROMPTS_BUCKET: bucket,
      PROMPTS_PREFIX: `${schema}/`,
      PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
      MLFLOW_EXPERIMENT_NAME: EXPERIMENT,
      ...naming,
    });
    const keys = [];
    for (const file of files) {
      const key = `${schema}/${file.name}.md`;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: file.text }));
      keys.push({ bucket, key });
    }
    const handler = createRegisterHandler({ env, runtime: runtimeFor(env, 'register'), s3 });
    return handler(s3Event(keys), { awsRequestId: randomUUID() });
  }

  async function api<T = Record<string, unknown>>(
    handler: (event: never, context: never) => Promise<APIGatewayProxyStructuredResultV2>,
    routeKey: string,
    call: { name?: string; body?: unknown; principal?: string },
  ): Promise<{ status: number | undefined; body: T }> {
    const response = await handler(
      httpApiEvent({
        routeKey,
        rawPath: '/',
        principal: call.principal ?? ADMIN,
        pathParameters: call.name ? { name: call.name } : undefined,
        body: call.body,
      }) as never,
      { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 29_000 } as never,
    );
    return { status: response.statusCode, body: JSON.parse(response.body ?? 'null') as T };
  }

  it('register: the eight prompt files become Unity Catalog prompts, staging and production on version 1', async () => {
    const files = await Promise.all(
      (await agentPromptFiles()).map(async (f) => ({ name: f.name, text: await readFile(f.source, 'utf8') })),
    );
    const mark = contract.log.length;
    const summary = await upload(files);
    const byFunction = contract.log.slice(mark);
    expect(summary.results).toEqual(
      files.map((f) => expect.objectContaining({ name: uc(f.name), status: 'created', version: 1 })),
    );
    const prompt = await reader.getPrompt(uc('orchestrator'));
    expect(prompt.aliases).toEqual({ staging: 1, production: 1 });
    const version = await reader.getPromptVersion(uc('orchestrator'), 1);
    expect(version.tags['promptops.content_hash']).toMatch(/^sha256:/);
    // On the wire our keys are underscored (Unity Catalog refuses dots).
    const sent = contract.log.filter((r) => r.method === 'POST' && r.path.endsWith('/versions'));
    const keys = sent.flatMap((r) =>
      ((r.body as { prompt_version: { tags: { key: string }[] } }).prompt_version.tags ?? []).map(
        (t) => t.key,
      ),
    );
    expect(keys.filter((k) => k.includes('.'))).toEqual([]);
    expect(keys).toContain('promptops_content_hash');
    // The function's own requests (the test's reader has a token of its own) carry the secret's credential.
    const otherwise = byFunction.filter((r) => r.path.includes(schema) && r.auth !== credential.auth);
    expect(otherwise.map((r) => `${r.method} ${r.path} ${r.auth} ${r.status}`)).toEqual([]);
  });

  it('register: the same content again is no new version; changed content is, and moves staging only', async () => {
    const [file] = await agentPromptFiles();
    if (!file) throw new Error('no prompt files');
    const text = await readFile(file.source, 'utf8');
    const again = await upload([{ name: file.name, text }]);
    expect(again.results[0]).toMatchObject({ status: 'unchanged', version: 1 });
    const changed = await upload([{ name: file.name, text: `${text.trimEnd()}\nBe brief.\n` }]);
    expect(changed.results[0]).toMatchObject({ status: 'created', version: 2 });
    expect((await reader.getPrompt(uc(file.name))).aliases).toEqual({ staging: 2, production: 1 });
  });

  it('promote: staging to production with its history, then a rollback', async () => {
    const env = parsePromoteEnv({
      PROMPTOPS_SECRET_ID: secretId,
      PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
      PROMOTE_LOCK_TABLE: table,
      PROTECTED_ALIASES: 'production',
      PROTECTED_ALIAS_PRINCIPALS: 'arn:aws:sts::123456789012:assumed-role/release-managers/*',
      ...naming,
    });
    const handler = createPromoteHandler({ env, runtime: runtimeFor(env, 'promote'), dynamodb }) as never;
    const [file] = await agentPromptFiles();
    const short = file?.name as string;
    const promoted = await api(handler, 'POST /prompts/{name}/promote', {
      name: short,
      body: { expectedVersion: 1, reason: 'evaluation passed' },
    });
    expect(promoted).toMatchObject({
      status: 200,
      body: { name: uc(short), version: 2, previousVersion: 1 },
    });
    const prompt = await reader.getPrompt(uc(short));
    expect(prompt.aliases).toMatchObject({ production: 2, staging: 2 });
    expect(parseHistory(prompt.tags[historyTag('production')]).entries.at(-1)).toMatchObject({
      action: 'promote',
      version: 2,
      previousVersion: 1,
      by: ADMIN,
    });
    const tagWrites = contract.log.filter(
      (r) => r.method === 'POST' && r.path === `/api/2.0/mlflow/unity-catalog/prompts/${uc(short)}/tags`,
    );
    expect(tagWrites.map((r) => (r.body as { key: string }).key)).toContain(
      'promptops_alias_history_production',
    );

    const back = await api(handler, 'POST /prompts/{name}/rollback', { name: short, body: {} });
    expect(back).toMatchObject({ status: 200, body: { version: 1, previousVersion: 2 } });
    expect((await reader.getPrompt(uc(short))).aliases.production).toBe(1);

    const described = await api(handler, 'GET /prompts/{name}', { name: short });
    expect(described.status).toBe(200);
  });

  it('predict: prompts by alias, the serving endpoint as the model, the trace written and linked', async () => {
    const env = parsePredictEnv({
      PROMPTOPS_SECRET_ID: secretId,
      PREDICT_TRACE_BUDGET_MS: '5000',
      MLFLOW_EXPERIMENT_NAME: EXPERIMENT,
      ...naming,
    });
    const handler = assemblePredict(env, runtimeFor(env, 'predict'), { snapshot: () => undefined }) as never;
    const served = contract.serving.requests.length;
    const response = await api<{ messages: { content: string }[]; custom_outputs: Record<string, unknown> }>(
      handler,
      ROUTE,
      {
        body: {
          messages: [{ role: 'user', content: 'Why did our cost rise and which jobs failed?' }],
          context: { conversation_id: 'conv-uc', user_id: 'ana' },
        },
      },
    );
    expect(response.status).toBe(200);
    expect(response.body.messages[0]?.content).toContain(STANDIN_LABEL);
    const outputs = response.body.custom_outputs as {
      traceId: string;
      prompts: { name: string; source: string }[];
    };
    expect(outputs.prompts.map((p) => [p.name, p.source])).toContainEqual([uc('orchestrator'), 'registry']);
    expect(outputs.prompts.every((p) => p.source === 'registry')).toBe(true);
    // The model calls went to the serving endpoint, with the workspace's credentials.
    const calls = contract.serving.requests.slice(served);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.every((c) => c.endpoint === ENDPOINT)).toBe(true);
    const servingAuth = contract.log
      .filter((r) => r.path === '/serving-endpoints/chat/completions')
      .map((r) => r.auth);
    expect(servingAuth.at(-1)).toBe(credential.auth);
    // The trace is in the workspace's experiment, with its spans, and linked to every prompt version used.
    const trace = contract.traces.traces.get(outputs.traceId);
    expect(trace?.info).toMatchObject({
      trace_location: { mlflow_experiment: { experiment_id: '1001' } },
      trace_metadata: { 'mlflow.trace.session': 'conv-uc', 'mlflow.trace.user': 'ana' },
    });
    expect(trace?.data?.spans.length).toBeGreaterThan(3);
    expect(contract.prompts.traceLinks.get(outputs.traceId)?.size).toBe(outputs.prompts.length);
  });

  it('verify: every alias resolves; a deleted alias is one failure', async () => {
    const env = parseVerifyEnv({
      PROMPTOPS_SECRET_ID: secretId,
      PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
      ...naming,
    });
    const verify = () =>
      createVerifyHandler({ env, runtime: runtimeFor(env, 'verify') })({}, { awsRequestId: randomUUID() });
    const healthy = await verify();
    expect(healthy.ok).toBe(true);
    await reader.deleteAlias(uc('synthesizer'), 'production');
    const broken = await verify();
    expect(broken.ok).toBe(false);
    expect(broken.checks.filter((c) => c.status === 'fail')).toEqual([
      expect.objectContaining({ prompt: uc('synthesizer'), alias: 'production', code: 'ALIAS_MISSING' }),
    ]);
    await reader.setAlias(uc('synthesizer'), 'production', 1);
  });

  it('asked the token endpoint once per function instance, however many requests it made', () => {
    const issued = contract.tokensIssued - tokensBefore;
    expect(instances).toBeGreaterThan(4);
    expect(issued).toBe(credential.auth === 'bearer pat' ? 0 : instances);
  });
});

describe('an OAuth token the workspace stops honouring mid-run', () => {
  it('is replaced once, and the function goes on', async () => {
    const schema = `revoke_${randomUUID().slice(0, 8)}`;
    const secretId = await makeSecret(secretsManager, {
      registry: { type: 'databricks', host: contract.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    });
    const { handler } = verifyInstance(secretId, schema);
    await handler({}, { awsRequestId: randomUUID() });
    const before = contract.tokensIssued;
    contract.revokeTokens();
    const report = await handler({}, { awsRequestId: randomUUID() });
    expect(report.checks.filter((c) => c.prompt === '*')).toEqual([]);
    expect(report.checks.length).toBeGreaterThan(0);
    expect(contract.tokensIssued - before).toBe(1);
  });
});

describe('a rotated service principal secret', () => {
  it('is read again when the token endpoint refuses the one cached, and the run goes on', async () => {
    const schema = `rotate_${randomUUID().slice(0, 8)}`;
    const stale = {
      type: 'databricks',
      host: contract.url,
      clientId: CLIENT_ID,
      clientSecret: 'sp-secret-before-rotation',
    };
    const secretId = await makeSecret(secretsManager, { registry: stale });
    const { runtime, handler } = verifyInstance(secretId, schema);
    // The cold start reads the old secret; the operator rotates it meanwhile.
    await runtime.secrets.get(secretId);
    await secretsManager.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        SecretString: JSON.stringify({ registry: { ...stale, clientSecret: CLIENT_SECRET } }),
      }),
    );
    const report = await handler({}, { awsRequestId: randomUUID() });
    // No run-level failure (the registry read, refused or not): only the per-prompt checks.
    expect(report.checks.filter((c) => c.prompt === '*')).toEqual([]);
    expect(report.checks.length).toBeGreaterThan(0);
  });
});

describe('an OAuth token that expires between invocations', () => {
  it('is renewed before it is sent again: a new token, no refusal', async () => {
    // Tokens that live 41 s count as expired after 1 s (the 40 s margin the SDKs keep).
    const shortLived = await startDatabricksContract({
      clients: { [CLIENT_ID]: CLIENT_SECRET },
      tokenLifetimeSeconds: 41,
    });
    try {
      const secretId = await makeSecret(secretsManager, {
        registry: {
          type: 'databricks',
          host: shortLived.url,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
        },
      });
      const { handler } = verifyInstance(secretId, 'expiry');
      await handler({}, { awsRequestId: randomUUID() });
      expect(shortLived.tokensIssued).toBe(1);
      await new Promise((done) => setTimeout(done, 1_200));
      const report = await handler({}, { awsRequestId: randomUUID() });
      expect(report.checks.filter((c) => c.prompt === '*')).toEqual([]);
      expect(shortLived.tokensIssued).toBe(2);
      expect(shortLived.log.filter((r) => r.status === 401)).toEqual([]);
    } finally {
      await shortLived.close();
    }
  });
});
