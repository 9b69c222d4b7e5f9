import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError } from '../../lib/errors';
import { bearerAuth, createRegistryClient, type RegistryClient } from '../../lib/registry';

const ORIGIN = 'http://mlflow.test:5000';
const TOKEN = 'tok-TRACKING-4711';
let agent: MockAgent;

function client(): RegistryClient {
  return createRegistryClient({
    trackingUri: `${ORIGIN}/mlflow`,
    auth: bearerAuth(TOKEN),
    dispatcher: agent,
    sleep: async () => {},
    random: () => 0,
  });
}

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

describe('logSpans', () => {
  it('posts the protobuf body to /v1/traces under the base path, with the experiment header', async () => {
    const body = new Uint8Array([10, 3, 1, 2, 3]);
    let seen: Buffer | undefined;
    agent
      .get(ORIGIN)
      .intercept({
        path: '/mlflow/v1/traces',
        method: 'POST',
        headers: {
          'content-type': 'application/x-protobuf',
          'x-mlflow-experiment-id': '12',
          authorization: `Bearer ${TOKEN}`,
        },
        body: (sent) => {
          seen = Buffer.from(sent);
          return true;
        },
      })
      .reply(200, Buffer.alloc(0), { headers: { 'content-type': 'application/x-protobuf' } });
    await client().logSpans('12', body);
    expect(seen?.length).toBe(body.length);
  });

  it('refuses an experiment id that is not digits, before any request', async () => {
    await expect(client().logSpans('0; drop', new Uint8Array())).rejects.toThrow(InvalidInputError);
  });
});

describe('linkPromptsToTrace', () => {
  const link = () => client().linkPromptsToTrace('tr-1', [{ name: 'p', version: 3 }]);

  it('counts a refusal of the re-sent link, after a lost answer, as linked', async () => {
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/mlflow/api/2.0/mlflow/traces/link-prompts', method: 'POST' }).reply(503, 'busy');
    pool
      .intercept({ path: '/mlflow/api/2.0/mlflow/traces/link-prompts', method: 'POST' })
      .reply(400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'already linked' });
    await expect(link()).resolves.toEqual({ linked: true });
  });

  it('passes a refusal of the first attempt on, as the error it is', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/mlflow/api/2.0/mlflow/traces/link-prompts', method: 'POST' })
      .reply(400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'bad version' });
    await expect(link()).rejects.toThrow(InvalidInputError);
  });

  it('sends the versions as strings of digits, each pair once', async () => {
    let sent: unknown;
    agent
      .get(ORIGIN)
      .intercept({
        path: '/mlflow/api/2.0/mlflow/traces/link-prompts',
        method: 'POST',
        body: (text) => {
          sent = JSON.parse(text);
          return true;
        },
      })
      .reply(200, {});
    await client().linkPromptsToTrace('tr-9', [
      { name: 'a', version: 1 },
      { name: 'a', version: 1 },
      { name: 'b', version: 12 },
    ]);
    expect(sent).toEqual({
      trace_id: 'tr-9',
      prompt_versions: [
        { name: 'a', version: '1' },
        { name: 'b', version: '12' },
      ],
    });
  });
});

describe('experiments', () => {
  it('finds an experiment id by name, and answers undefined for none', async () => {
    const pool = agent.get(ORIGIN);
    pool
      .intercept({
        path: '/mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=health',
        method: 'GET',
      })
      .reply(200, { experiment: { experiment_id: '7', name: 'health' } });
    pool
      .intercept({ path: /get-by-name\?experiment_name=nope/, method: 'GET' })
      .reply(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no such experiment' });
    const registry = client();
    expect(await registry.getExperimentIdByName('health')).toBe('7');
    expect(await registry.getExperimentIdByName('nope')).toBeUndefined();
  });

  it('creates an experiment and answers its id', async () => {
    agent
      .get(ORIGIN)
      .intercept({
        path: '/mlflow/api/2.0/mlflow/experiments/create',
        method: 'POST',
        body: '{"name":"health"}',
      })
      .reply(200, { experiment_id: '8' });
    expect(await client().createExperiment('health')).toBe('8');
  });

  it('keeps NotFoundError for other misses', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/mlflow/api/2.0/mlflow/traces/link-prompts', method: 'POST' })
      .reply(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: "Trace with ID 'tr-1' not found." });
    await expect(client().linkPromptsToTrace('tr-1', [{ name: 'p', version: 1 }])).rejects.toThrow(
      NotFoundError,
    );
  });
});
