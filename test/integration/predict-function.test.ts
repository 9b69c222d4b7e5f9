/**
 * The predict function's handler with HTTP API events as API Gateway shapes them: the real MLflow
 * server, the registry and model credentials from moto's Secrets Manager, the model stand-in
 * (which insists on its API key). One test per answer the route gives.
 */
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assemblePredict } from '../../functions/predict/assemble';
import { FEEDBACK_ROUTE, ROUTE } from '../../functions/predict/core';
import { MAX_QUERY_CHARS } from '../../lib/agent/chat-agent';
import { parsePredictEnv } from '../../lib/config/predict-env';
import type { NamingOptions } from '../../lib/prompts/naming';
import { createRegistryClient } from '../../lib/registry';
import { createRuntime } from '../../lib/runtime/invocation';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../../local/model-standin';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { httpApiEvent } from '../support/http-api-event';
import { type Oracle, startOracle } from '../support/oracle';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const TOKEN = `tok-${randomUUID()}`;
const API_KEY = `sk-${randomUUID()}`;
const CALLER = 'arn:aws:sts::123456789012:assumed-role/agent-users/carol';

let secretsManager: SecretsManagerClient;
let standin: ModelStandin;
let oracle: Oracle;
let naming: NamingOptions;
let names: Map<string, string>;
let secretId: string;
const logs: string[] = [];

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  secretsManager = new SecretsManagerClient({});
  naming = uniqueNaming('predict-fn');
  names = await registerAgentPrompts(createRegistryClient({ trackingUri: mlflowUri }), naming);
  standin = await startModelStandin({ apiKey: API_KEY });
  oracle = startOracle(mlflowUri);
  secretId = await makeSecret(secretsManager, {
    registry: { type: 'mlflow', trackingUri: mlflowUri, token: TOKEN },
    model: { baseUrl: standin.url, name: STANDIN_MODEL, apiKey: API_KEY },
  });
});

afterAll(async () => {
  await Promise.all([standin?.stop(), oracle?.close()]);
});

function handlerFor(secret: string, extraEnv: Record<string, string> = {}) {
  const env = parsePredictEnv({
    PROMPTOPS_SECRET_ID: secret,
    PROMPT_NAME_PREFIX: naming.prefix,
    PREDICT_TRACE_BUDGET_MS: '4000',
    ...extraEnv,
  });
  const runtime = createRuntime(env, { functionName: 'predict', secretsManager, write: (l) => logs.push(l) });
  return assemblePredict(env, runtime, { snapshot: () => undefined });
}

interface Call {
  readonly principal?: string | null;
  readonly routeKey?: string;
  readonly body?: unknown;
  readonly rawBody?: string;
}

function event(call: Call) {
  return httpApiEvent({
    routeKey: call.routeKey ?? ROUTE,
    rawPath: '/predict',
    principal: call.principal === undefined ? CALLER : call.principal,
    body: call.body,
    rawBody: call.rawBody,
  });
}

async function send(handler: ReturnType<typeof handlerFor>, call: Call, remainingMs = 29_000) {
  const response: APIGatewayProxyStructuredResultV2 = await handler(event(call), {
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => remainingMs,
  });
  return {
    status: response.statusCode,
    headers: response.headers ?? {},
    body: JSON.parse(response.body ?? 'null'),
  };
}

const REQUEST = {
  messages: [
    { role: 'user', content: 'Which jobs failed last night?', id: 'm1' },
    { role: 'assistant', content: 'Two jobs failed.', id: 'm2', name: 'health-monitor' },
    { role: 'user', content: 'Why did they fail, and what did they cost?', id: 'm3' },
  ],
  context: { conversation_id: 'conv-42', user_id: 'carol' },
  custom_inputs: { data: { reliability: { failed_jobs: ['etl_daily', 'ml_refresh'] } } },
  stream: false,
};

describe('predict function', () => {
  it('answers a ChatAgentRequest with a ChatAgentResponse that MLflow itself accepts', async () => {
    const handler = handlerFor(secretId);
    const response = await send(handler, { body: REQUEST });
    expect(response.status).toBe(200);
    const validated = await oracle.call<{ messages: { id: string }[] }>('chat_agent_response', {
      body: response.body,
    });
    expect(validated.messages[0]?.id).toBe(response.body.messages[0].id);
    expect(response.body.messages).toHaveLength(1);
    expect(response.body.messages[0]).toMatchObject({ role: 'assistant' });
    const outputs = response.body.custom_outputs;
    expect(outputs.traceId).toMatch(/^tr-[0-9a-f]{32}$/);
    expect(outputs.domains).toEqual(['cost', 'reliability']);
    expect(outputs.prompts).toHaveLength(8);
    expect(outputs.prompts[0]).toEqual({
      name: names.get('orchestrator'),
      version: 1,
      alias: 'production',
      source: 'registry',
    });
    // The model got the key from the secret; the conversation reached the orchestrator prompt.
    const last = standin.requests.at(-1);
    expect(last?.authorization).toBe(`Bearer ${API_KEY}`);
    expect(JSON.stringify(last?.body)).toContain('Two jobs failed.');
    const trace = await oracle.call<{ metadata: Record<string, string> }>('get_trace', {
      trace_id: outputs.traceId,
    });
    expect(trace.metadata).toMatchObject({ 'mlflow.trace.session': 'conv-42', 'mlflow.trace.user': 'carol' });
  });

  it('records feedback on an answer as the caller, read back by MLflow; 404 for an unknown trace, 400 naming a bad field', async () => {
    const handler = handlerFor(secretId);
    const answer = await send(handler, { body: REQUEST });
    const traceId = answer.body.custom_outputs.traceId as string;
    const recorded = await send(handler, {
      routeKey: FEEDBACK_ROUTE,
      body: { traceId, value: 'up', comment: 'found the failing jobs' },
    });
    expect(recorded).toMatchObject({
      status: 201,
      body: { traceId, assessmentId: expect.stringMatching(/^a-/) },
    });
    const read = await oracle.call<{ value: unknown; rationale: string; source_id: string }[]>(
      'feedback_of',
      {
        trace_id: traceId,
      },
    );
    expect(read).toEqual([
      expect.objectContaining({ value: true, rationale: 'found the failing jobs', source_id: CALLER }),
    ]);
    const unknown = await send(handler, {
      routeKey: FEEDBACK_ROUTE,
      body: { traceId: `tr-${'e'.repeat(32)}`, value: 3 },
    });
    expect(unknown.status).toBe(404);
    const bad = await send(handler, { routeKey: FEEDBACK_ROUTE, body: { traceId, value: 'meh' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/value/);
  });

  it('accepts the shorthand { query, data }', async () => {
    const response = await send(handlerFor(secretId), {
      body: { query: 'Is our data fresh?', data: { quality: { stale_tables: 3 } } },
    });
    expect(response.status).toBe(200);
    expect(response.body.custom_outputs.domains).toEqual(['quality']);
  });

  it('answers 401 without an IAM principal, before reading anything', async () => {
    const response = await send(handlerFor(secretId), { principal: null, body: REQUEST });
    expect(response).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
  });

  it('answers 404 for another route', async () => {
    const response = await send(handlerFor(secretId), { routeKey: 'GET /predict', body: REQUEST });
    expect(response).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
  });

  it.each([
    ['streaming', { ...REQUEST, stream: true }, /streaming is not supported/i],
    ['a field outside ChatAgentRequest', { ...REQUEST, temperature: 0.2 }, /unknown field\(s\): temperature/],
    ['no user message', { messages: [{ role: 'assistant', content: 'hi' }] }, /no user message/],
    ['an unknown domain', { ...REQUEST, custom_inputs: { data: { weather: 1 } } }, /custom_inputs\.data/],
    ['a question over the limit', { query: 'x'.repeat(MAX_QUERY_CHARS + 1) }, /query/],
    ['a message without content', { messages: [{ role: 'user' }] }, /content/],
  ])('answers 400 for %s, naming it', async (_, body, detail) => {
    const response = await send(handlerFor(secretId), { body });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('INVALID_INPUT');
    expect(`${response.body.detail} ${JSON.stringify(response.body.errors ?? [])}`).toMatch(detail);
  });

  it('answers 400 for a body that is not JSON or too large', async () => {
    const handler = handlerFor(secretId);
    expect((await send(handler, { rawBody: '{"messages": [' })).body.detail).toMatch(/not valid JSON/);
    expect((await send(handler, { rawBody: ' '.repeat(300 * 1024) })).body.detail).toMatch(/larger than/);
  });

  it('answers 502 MODEL_FAILED with the trace id when the model keeps failing, and leaks nothing', async () => {
    const handler = handlerFor(secretId);
    await send(handler, { body: REQUEST });
    standin.fail(
      { status: 500, body: `{"error": {"message": "upstream broke; key ${API_KEY}"}}` },
      { status: 500 },
      { status: 503, retryAfter: '0' },
      { status: 500 },
    );
    const response = await send(handler, { body: REQUEST });
    expect(response.status).toBe(502);
    expect(response.body).toMatchObject({
      code: 'MODEL_FAILED',
      detail: expect.stringMatching(/model endpoint failed/),
    });
    expect(response.body.traceId).toMatch(/^tr-/);
    const trace = await oracle.call<{ state: string }>('get_trace', { trace_id: response.body.traceId });
    expect(trace.state).toBe('ERROR');
    expect(JSON.stringify(response)).not.toContain('upstream broke');
  });

  it('answers 504 DEADLINE_EXCEEDED when the model is slower than the invocation has left', async () => {
    const handler = handlerFor(secretId, { PREDICT_TRACE_BUDGET_MS: '1000' });
    await send(handler, { body: REQUEST });
    standin.delayMs = 4_000;
    try {
      const started = Date.now();
      const response = await send(handler, { body: REQUEST }, 3_000);
      expect(response).toMatchObject({ status: 504, body: { code: 'DEADLINE_EXCEEDED' } });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      standin.delayMs = 0;
    }
  });

  it('answers 500 with a generic detail when the secret names no model', async () => {
    const noModel = await makeSecret(secretsManager, {
      registry: { type: 'mlflow', trackingUri: mlflowUri },
    });
    const response = await send(handlerFor(noModel), { body: REQUEST });
    expect(response).toMatchObject({ status: 500, body: { code: 'INTERNAL' } });
    expect(response.body.detail).not.toMatch(/secret|model/i);
    expect(logs.some((l) => l.includes('names no model'))).toBe(true);
  });

  it('writes no credential to any log line or response', async () => {
    const handler = handlerFor(secretId);
    logs.length = 0;
    const responses = [await send(handler, { body: REQUEST }), await send(handler, { body: { query: '' } })];
    standin.fail({ status: 401, body: `{"error": {"message": "bad key ${API_KEY}"}}` });
    responses.push(await send(handler, { body: REQUEST }));
    // What MLflow stored of those traces too: spans, their attributes, statuses and events.
    const stored = await Promise.all(
      responses
        .map((r) => r.body.custom_outputs?.traceId ?? r.body.traceId)
        .filter((id): id is string => typeof id === 'string')
        .map((id) => oracle.call('get_trace', { trace_id: id })),
    );
    expect(stored.length).toBeGreaterThanOrEqual(2);
    const everything = JSON.stringify(responses) + logs.join('\n') + JSON.stringify(stored);
    expect(logs.length).toBeGreaterThan(3);
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain(TOKEN);
  });
});
