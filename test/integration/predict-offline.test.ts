/**
 * `POST /predict` end to end over HTTP: serverless.yml served by serverless-offline on loopback
 * (the function bundled by serverless-esbuild as for a deploy, its fallback snapshot taken by the
 * packaging step), the registry and model credentials in moto's Secrets Manager, the prompts and
 * the traces in the real MLflow server, the model stand-in. The caller's principal travels in
 * serverless-offline's authorizer override header (local/offline.ts), as the CLI sends it
 * with --local-principal.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRegistryClient } from '../../lib/registry';
import { createLockTable } from '../../local/lock-table';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../../local/model-standin';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { runCli } from '../support/cli';
import { asPrincipal, type OfflineServer, startOffline } from '../support/offline';
import { type Oracle, startOracle } from '../support/oracle';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const CALLER = 'arn:aws:iam::000000000000:user/agent-user';
const naming = uniqueNaming('predict-offline');

let offline: OfflineServer;
let standin: ModelStandin;
let oracle: Oracle;
let names: Map<string, string>;

async function predict(body: unknown, principal: string | null = CALLER) {
  const response = await fetch(`${offline.url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(principal ? asPrincipal(principal) : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(35_000),
  });
  return { status: response.status, headers: response.headers, body: JSON.parse(await response.text()) };
}

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  names = await registerAgentPrompts(createRegistryClient({ trackingUri: mlflowUri }), naming);
  standin = await startModelStandin();
  oracle = startOracle(mlflowUri);
  const secretId = await makeSecret(new SecretsManagerClient({}), {
    registry: { type: 'mlflow', trackingUri: mlflowUri },
    model: { baseUrl: standin.url, name: STANDIN_MODEL },
  });
  // The promote routes in the same stack need their lock table to start.
  const lockTable = `it-alias-locks-${randomUUID().slice(0, 8)}`;
  await createLockTable(new DynamoDBClient({}), lockTable);
  offline = await startOffline({
    motoUrl: motoUri,
    secretId,
    lockTable,
    params: { promptNamePrefix: naming.prefix ?? '' },
  });
}, 180_000);

afterAll(async () => {
  await Promise.all([offline?.stop(), standin?.stop(), oracle?.close()]);
});

describe('POST /predict over HTTP (serverless-offline)', () => {
  it('answers a ChatAgentRequest; MLflow validates the response and finds its trace by prompt', async () => {
    const answer = await predict({
      messages: [{ role: 'user', content: 'Did any pipeline fail this week?' }],
      context: { conversation_id: 'c-1', user_id: 'u-1' },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json\b/);
    await oracle.call('chat_agent_response', { body: answer.body });
    const { traceId, domains, prompts } = answer.body.custom_outputs;
    expect(domains).toEqual(['reliability']);
    expect(prompts).toHaveLength(8);
    for (const prompt of prompts) expect(prompt).toMatchObject({ version: 1, alias: 'production' });
    expect(
      await oracle.call('traces_for_prompt', { name: names.get('reliability_worker'), version: 1 }),
    ).toContain(traceId);
  });

  it('answers 401 to a request that names no principal', async () => {
    const answer = await predict({ query: 'hello' }, null);
    expect(answer).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
  });

  it('answers 400 naming the field outside ChatAgentRequest', async () => {
    const answer = await predict({ messages: [{ role: 'user', content: 'hi' }], temperature: 1 });
    expect(answer).toMatchObject({ status: 400, body: { code: 'INVALID_INPUT' } });
    expect(answer.body.detail).toContain('temperature');
  });

  it('serves `promptops predict --api` with --json: one object, the deployed stage deciding alias and model', async () => {
    const env = { PROMPTOPS_LOCAL_PRINCIPAL: CALLER, HOME: '/nonexistent' };
    const run = await runCli(['predict', 'Why is the warehouse slow?', '--api', offline.url, '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(Object.keys(json).sort()).toEqual(['answer', 'domains', 'prompts', 'traceId']);
    expect(json.domains).toEqual(['performance']);
    expect(json.answer).toContain('[stand-in model]');

    const refused = await runCli(['predict', 'q', '--api', offline.url, '--alias', 'staging'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--alias and --model are for local runs/);
  });
});
