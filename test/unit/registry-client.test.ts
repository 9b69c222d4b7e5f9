import { inspect } from 'node:util';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InvalidInputError,
  MalformedResponseError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
} from '../../lib/errors';
import {
  basicAuth,
  bearerAuth,
  createRegistryClient,
  type RegistryClient,
  resolveAuth,
} from '../../lib/registry';

const ORIGIN = 'http://registry.test:5000';
const TOKEN = 'tok-SECRET-123';

function version(n: number, text = 'Hello {{name}}', extra: { key: string; value: string }[] = []) {
  return {
    name: 'demo.p',
    version: String(n),
    creation_timestamp: 1,
    last_updated_timestamp: 2,
    description: 'first',
    tags: [
      ...extra,
      { key: 'mlflow.prompt.is_prompt', value: 'true' },
      { key: '_mlflow_prompt_type', value: 'text' },
      { key: 'mlflow.prompt.text', value: text },
    ],
    aliases: ['production'],
  };
}

const mlflowError = (code: string, message: string) => ({ error_code: code, message });

let agent: MockAgent;
let sleeps: number[];
let clock: number;

function client(overrides: Partial<Parameters<typeof createRegistryClient>[0]> = {}): RegistryClient {
  return createRegistryClient({
    trackingUri: ORIGIN,
    auth: bearerAuth(TOKEN),
    dispatcher: agent,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    random: () => 1,
    ...overrides,
  });
}

const pool = () => agent.get(ORIGIN);

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  sleeps = [];
  clock = 0;
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

describe('resolveAlias', () => {
  it('resolves in one request with the template, tags and aliases, sending the bearer token', async () => {
    pool()
      .intercept({
        path: '/api/2.0/mlflow/registered-models/alias?name=demo.p&alias=production',
        method: 'GET',
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      .reply(200, { model_version: version(3, 'Hi {{ who }}', [{ key: 'team', value: 'x' }]) });
    const registry = client();
    const prompt = await registry.resolveAlias('demo.p', 'production');
    expect(registry.requestCount).toBe(1);
    expect(prompt).toMatchObject({
      name: 'demo.p',
      version: 3,
      type: 'text',
      template: 'Hi {{ who }}',
      variables: ['who'],
      tags: { team: 'x' },
      aliases: ['production'],
      commitMessage: 'first',
      uri: 'prompts:/demo.p/3',
    });
  });

  it('turns MLflow\'s HTTP 400 "alias not found" into NotFoundError, keeping the cause', async () => {
    pool()
      .intercept({ path: /registered-models\/alias/, method: 'GET' })
      .reply(400, mlflowError('INVALID_PARAMETER_VALUE', 'Registered model alias staging not found.'));
    const error = await client()
      .resolveAlias('demo.p', 'staging')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({
      code: 'NOT_FOUND',
      registry: { operation: 'resolveAlias', httpStatus: 400, mlflowErrorCode: 'INVALID_PARAMETER_VALUE' },
    });
    expect((error as Error).cause).toBeInstanceOf(InvalidInputError);
  });

  it('parses a chat version, model config and response format', async () => {
    const chat = version(1, '[{"role": "system", "content": "You are {{ p }}"}]');
    chat.tags = chat.tags.map((t) => (t.key === '_mlflow_prompt_type' ? { ...t, value: 'chat' } : t));
    chat.tags.push(
      { key: '_mlflow_prompt_model_config', value: '{"temperature": 0.2}' },
      { key: '_mlflow_prompt_response_format', value: '{"type": "object"}' },
    );
    pool().intercept({ path: /alias/, method: 'GET' }).reply(200, { model_version: chat });
    const prompt = await client().resolveAlias('demo.p', 'latest');
    expect(prompt.type).toBe('chat');
    expect(prompt.template).toEqual([{ role: 'system', content: 'You are {{ p }}' }]);
    expect(prompt.variables).toEqual(['p']);
    expect(prompt.modelConfig).toEqual({ temperature: 0.2 });
    expect(prompt.responseFormat).toEqual({ type: 'object' });
  });
});

describe('response validation', () => {
  it('rejects an answer missing required fields with MalformedResponseError', async () => {
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(200, { model_version: { name: 'demo.p' } });
    await expect(client().resolveAlias('demo.p', 'production')).rejects.toThrow(MalformedResponseError);
  });

  it('rejects a 200 that is not JSON', async () => {
    pool().intercept({ path: /alias/, method: 'GET' }).reply(200, '<html>proxy</html>');
    await expect(client().resolveAlias('demo.p', 'production')).rejects.toMatchObject({
      code: 'MALFORMED_RESPONSE',
    });
  });

  it('rejects a version that is not a prompt', async () => {
    const model = { ...version(1), tags: [{ key: 'team', value: 'x' }] };
    pool()
      .intercept({ path: /model-versions\/get/, method: 'GET' })
      .reply(200, { model_version: model });
    await expect(client().getPromptVersion('demo.p', 1)).rejects.toThrow(/not a prompt/);
  });

  it('rejects a chat template that is not JSON messages', async () => {
    const bad = version(1, 'not json');
    bad.tags = bad.tags.map((t) => (t.key === '_mlflow_prompt_type' ? { ...t, value: 'chat' } : t));
    pool()
      .intercept({ path: /model-versions\/get/, method: 'GET' })
      .reply(200, { model_version: bad });
    await expect(client().getPromptVersion('demo.p', 1)).rejects.toThrow(MalformedResponseError);
  });
});

describe('retries', () => {
  it('retries 503 with exponential backoff and succeeds', async () => {
    pool().intercept({ path: /alias/, method: 'GET' }).reply(503, 'busy').times(2);
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(200, { model_version: version(1) });
    const registry = client();
    await registry.resolveAlias('demo.p', 'production');
    expect(registry.requestCount).toBe(3);
    expect(sleeps).toEqual([200, 400]);
  });

  it.each([408, 429, 500, 502, 504])('retries HTTP %i', async (status) => {
    pool().intercept({ path: /alias/, method: 'GET' }).reply(status, '');
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(200, { model_version: version(1) });
    await expect(client().resolveAlias('demo.p', 'production')).resolves.toMatchObject({ version: 1 });
  });

  it('honours Retry-After in seconds', async () => {
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(429, mlflowError('REQUEST_LIMIT_EXCEEDED', 'slow down'), { headers: { 'retry-after': '3' } });
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(200, { model_version: version(1) });
    await client().resolveAlias('demo.p', 'production');
    expect(sleeps).toEqual([3000]);
  });

  it('gives up after maxAttempts with the last error, typed', async () => {
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(429, mlflowError('REQUEST_LIMIT_EXCEEDED', 'slow down'))
      .times(3);
    const error = await client({ retry: { maxAttempts: 3 } })
      .resolveAlias('demo.p', 'production')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(sleeps).toHaveLength(2);
  });

  it('does not start a retry that would pass maxElapsedMs', async () => {
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(503, '', { headers: { 'retry-after': '30' } });
    await expect(
      client({ retry: { maxElapsedMs: 10_000 } }).resolveAlias('demo.p', 'production'),
    ).rejects.toBeInstanceOf(UnavailableError);
    expect(sleeps).toEqual([]);
  });

  it('retries connection errors and reports UnavailableError with the cause', async () => {
    pool().intercept({ path: /alias/, method: 'GET' }).replyWithError(new Error('ECONNRESET')).times(4);
    const error = await client()
      .resolveAlias('demo.p', 'production')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).cause).toBeDefined();
    expect(sleeps).toHaveLength(3);
  });

  it('times out a slow answer', async () => {
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(200, { model_version: version(1) })
      .delay(500);
    await expect(
      client({ timeoutMs: 50, retry: { maxAttempts: 1 } }).resolveAlias('demo.p', 'production'),
    ).rejects.toBeInstanceOf(UnavailableError);
  });

  it('does not retry a client error', async () => {
    pool()
      .intercept({ path: /model-versions\/get/, method: 'GET' })
      .reply(404, mlflowError('RESOURCE_DOES_NOT_EXIST', 'Model Version (name=demo.p, version=9) not found'));
    const registry = client();
    const error = await registry.getPromptVersion('demo.p', 9).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain('Prompt (name=demo.p, version=9) not found');
    expect(registry.requestCount).toBe(1);
  });
});

describe('registerPrompt', () => {
  const existingPrompt = (latest: number) => ({
    registered_model: {
      name: 'demo.p',
      tags: [{ key: 'mlflow.prompt.is_prompt', value: 'true' }],
      latest_versions: latest > 0 ? [version(latest, 'old')] : [],
    },
  });

  it('sends the version exactly as MLflow does (source, tag order, description)', async () => {
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(200, existingPrompt(1));
    pool().intercept({ path: '/api/2.0/mlflow/registered-models/set-tag', method: 'POST' }).reply(200, {});
    let sent: unknown;
    pool()
      .intercept({
        path: '/api/2.0/mlflow/model-versions/create',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: (body) => {
          sent = JSON.parse(body);
          return true;
        },
      })
      .reply(200, { model_version: version(2, 'Hi {{ x }}', [{ key: 'team', value: 'a' }]) });
    const created = await client().registerPrompt({
      name: 'demo.p',
      template: 'Hi {{ x }}',
      commitMessage: 'second',
      tags: { team: 'a' },
      modelConfig: { temperature: 1, model_name: 'm', custom: [1] },
    });
    expect(created.version).toBe(2);
    expect(sent).toEqual({
      name: 'demo.p',
      source: 'dummy-source',
      description: 'second',
      tags: [
        { key: 'team', value: 'a' },
        { key: 'mlflow.prompt.is_prompt', value: 'true' },
        { key: '_mlflow_prompt_type', value: 'text' },
        { key: 'mlflow.prompt.text', value: 'Hi {{ x }}' },
        {
          key: '_mlflow_prompt_model_config',
          value: '{"model_name": "m", "temperature": 1.0, "custom": [1]}',
        },
      ],
    });
  });

  it('adopts the version a lost create made instead of creating a duplicate', async () => {
    const mine = version(5, 'Hi {{ x }}');
    mine.description = 'c';
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(200, existingPrompt(4));
    pool()
      .intercept({ path: '/api/2.0/mlflow/model-versions/create', method: 'POST' })
      .reply(504, 'gateway timeout');
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(200, { registered_model: { ...existingPrompt(4).registered_model, latest_versions: [mine] } });
    const registry = client();
    const created = await registry.registerPrompt({
      name: 'demo.p',
      template: 'Hi {{ x }}',
      commitMessage: 'c',
    });
    expect(created.version).toBe(5);
    expect(registry.requestCount).toBe(3);
  });

  it('re-sends the create when the lost attempt left nothing', async () => {
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(200, existingPrompt(4))
      .times(2);
    pool()
      .intercept({ path: '/api/2.0/mlflow/model-versions/create', method: 'POST' })
      .replyWithError(new Error('reset'));
    pool()
      .intercept({ path: '/api/2.0/mlflow/model-versions/create', method: 'POST' })
      .reply(200, { model_version: version(5, 'Hi {{ x }}') });
    const created = await client().registerPrompt({ name: 'demo.p', template: 'Hi {{ x }}' });
    expect(created.version).toBe(5);
  });

  it('creates a new prompt with the is_prompt tag first, and removes it if its first version fails', async () => {
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(404, mlflowError('RESOURCE_DOES_NOT_EXIST', 'Registered Model with name=demo.p not found'));
    let createdWith: unknown;
    pool()
      .intercept({
        path: '/api/2.0/mlflow/registered-models/create',
        method: 'POST',
        body: (b) => {
          createdWith = JSON.parse(b);
          return true;
        },
      })
      .reply(200, { registered_model: { name: 'demo.p' } });
    pool()
      .intercept({ path: '/api/2.0/mlflow/model-versions/create', method: 'POST' })
      .reply(400, mlflowError('INVALID_PARAMETER_VALUE', 'Invalid prompt source'));
    pool().intercept({ path: '/api/2.0/mlflow/registered-models/delete', method: 'DELETE' }).reply(200, {});
    await expect(
      client().registerPrompt({ name: 'demo.p', template: 'x', commitMessage: 'init', tags: { t: '1' } }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    expect(createdWith).toEqual({
      name: 'demo.p',
      description: 'init',
      tags: [
        { key: 'mlflow.prompt.is_prompt', value: 'true' },
        { key: 't', value: '1' },
      ],
    });
  });

  it('refuses a name taken by a model', async () => {
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(200, { registered_model: { name: 'demo.p', tags: [] } });
    await expect(client().registerPrompt({ name: 'demo.p', template: 'x' })).rejects.toThrow(/not a prompt/);
  });

  it('maps RESOURCE_ALREADY_EXISTS (HTTP 400) to AlreadyExistsError when the racing creator made a model', async () => {
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(404, mlflowError('RESOURCE_DOES_NOT_EXIST', 'nope'));
    pool()
      .intercept({ path: '/api/2.0/mlflow/registered-models/create', method: 'POST' })
      .reply(400, mlflowError('RESOURCE_ALREADY_EXISTS', 'Registered Model (name=demo.p) already exists.'));
    pool()
      .intercept({ path: /registered-models\/get/, method: 'GET' })
      .reply(200, { registered_model: { name: 'demo.p', tags: [] } });
    await expect(client().registerPrompt({ name: 'demo.p', template: 'x' })).rejects.toThrow(/not a prompt/);
  });

  it('validates before any request', async () => {
    const registry = client();
    await expect(registry.registerPrompt({ name: 'bad name', template: 'x' })).rejects.toThrow(
      InvalidInputError,
    );
    await expect(registry.registerPrompt({ name: 'p', template: '  ' })).rejects.toThrow(/empty/);
    await expect(registry.registerPrompt({ name: 'p', template: 'x'.repeat(100_001) })).rejects.toThrow(
      /100000/,
    );
    await expect(registry.registerPrompt({ name: 'p', template: [] })).rejects.toThrow(/at least one/);
    await expect(
      registry.registerPrompt({ name: 'p', template: 'x', tags: { 'mlflow.prompt.text': 'y' } }),
    ).rejects.toThrow(/reserved/);
    await expect(
      registry.registerPrompt({ name: 'p', template: 'x', modelConfig: { top_p: 2 } }),
    ).rejects.toThrow(/top_p/);
    expect(registry.requestCount).toBe(0);
  });
});

describe('aliases, search, tags, links', () => {
  it('refuses reserved aliases before any request', async () => {
    const registry = client();
    await expect(registry.setAlias('demo.p', 'latest', 1)).rejects.toThrow(/reserved/);
    await expect(registry.setAlias('demo.p', 'V2', 1)).rejects.toThrow(/reserved/);
    await expect(registry.deleteAlias('demo.p', 'Latest')).rejects.toThrow(/reserved/);
    expect(registry.requestCount).toBe(0);
  });

  it('sends set-alias with the version as a string and delete-alias with a JSON body', async () => {
    pool()
      .intercept({
        path: '/api/2.0/mlflow/registered-models/alias',
        method: 'POST',
        body: JSON.stringify({ name: 'demo.p', alias: 'staging', version: '2' }),
      })
      .reply(200, {});
    pool()
      .intercept({
        path: '/api/2.0/mlflow/registered-models/alias',
        method: 'DELETE',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'demo.p', alias: 'staging' }),
      })
      .reply(200, {});
    await client().setAlias('demo.p', 'staging', 2);
    await client().deleteAlias('demo.p', 'staging');
  });

  it('always filters searches to prompts and adds the user filter', async () => {
    const filter = "tags.`mlflow.prompt.is_prompt` = 'true' AND name LIKE 'demo%'";
    pool()
      .intercept({
        path: `/api/2.0/mlflow/registered-models/search?${new URLSearchParams({ filter, max_results: '100' })}`,
        method: 'GET',
      })
      .reply(200, {
        registered_models: [
          {
            name: 'demo.p',
            tags: [{ key: 'mlflow.prompt.is_prompt', value: 'true' }],
            aliases: [{ alias: 'production', version: '2' }],
            latest_versions: [version(3)],
          },
        ],
        next_page_token: 'abc',
      });
    const page = await client().searchPrompts({ filter: "name LIKE 'demo%'" });
    expect(page.nextPageToken).toBe('abc');
    expect(page.items).toEqual([
      expect.objectContaining({ name: 'demo.p', aliases: { production: 2 }, latestVersion: 3 }),
    ]);
  });

  it('finds prompts by name: 100 names a search, every page, no duplicate, nothing that is not a prompt', async () => {
    const names = Array.from({ length: 150 }, (_, i) => `demo.p${i}`);
    const model = (name: string, isPrompt = true) => ({
      name,
      tags: isPrompt ? [{ key: 'mlflow.prompt.is_prompt', value: 'true' }] : [],
      latest_versions: [version(1)],
    });
    const asked: string[][] = [];
    const search = (answer: (names: string[], pageToken: string | null) => object) =>
      pool()
        .intercept({
          path: (path) => path.startsWith('/api/2.0/mlflow/registered-models/search?'),
          method: 'GET',
        })
        .reply(200, (request) => {
          const query = new URL(String(request.path), ORIGIN).searchParams;
          const filter = query.get('filter') ?? '';
          expect(filter.startsWith("tags.`mlflow.prompt.is_prompt` = 'true' AND name IN (")).toBe(true);
          const inList = [...filter.matchAll(/'(demo\.p\d+)'/g)].map((m) => m[1] as string);
          asked.push(inList);
          return answer(inList, query.get('page_token'));
        });
    // The first chunk's answer comes in two pages, and carries a model that is not a prompt.
    search((chunk) => ({
      registered_models: [model(chunk[0] as string), model('demo.p0-model', false)],
      next_page_token: 'p2',
    }));
    search((chunk, token) => {
      expect(token).toBe('p2');
      return { registered_models: [model(chunk[99] as string)] };
    });
    search((chunk) => ({ registered_models: [model(chunk[49] as string)] }));
    const found = await client().findPrompts([...names, 'demo.p0']);
    expect(asked.map((chunk) => chunk.length)).toEqual([100, 100, 50]);
    expect(found.map((p) => p.name).sort()).toEqual(['demo.p0', 'demo.p149', 'demo.p99']);
    // No names, no request (an unexpected one would fail: the network is off).
    await expect(client().findPrompts([])).resolves.toEqual([]);
  });

  it('names the call that failed: findPrompts', async () => {
    pool()
      .intercept({
        path: (path) => path.startsWith('/api/2.0/mlflow/registered-models/search?'),
        method: 'GET',
      })
      .reply(403, mlflowError('PERMISSION_DENIED', 'no'));
    await expect(client().findPrompts(['demo.p'])).rejects.toMatchObject({
      registry: { operation: 'findPrompts' },
    });
  });

  it('reports an unlinked trace on a server without the link endpoint', async () => {
    pool()
      .intercept({ path: '/api/2.0/mlflow/traces/link-prompts', method: 'POST' })
      .reply(404, '<html>404</html>');
    await expect(client().linkPromptsToTrace('tr-1', [{ name: 'demo.p', version: 1 }])).resolves.toEqual({
      linked: false,
    });
  });

  it('links each version once', async () => {
    pool()
      .intercept({
        path: '/api/2.0/mlflow/traces/link-prompts',
        method: 'POST',
        body: JSON.stringify({ trace_id: 'tr-1', prompt_versions: [{ name: 'a', version: '1' }] }),
      })
      .reply(200, {});
    await expect(
      client().linkPromptsToTrace('tr-1', [
        { name: 'a', version: 1 },
        { name: 'a', version: 1 },
      ]),
    ).resolves.toEqual({ linked: true });
  });
});

describe('credentials', () => {
  it('never put a credential in an error message or a serialised auth object', async () => {
    pool().intercept({ path: /alias/, method: 'GET' }).reply(401, 'Unauthorized').times(1);
    const error = await client({ trackingUri: `http://user:${TOKEN}@registry.test:5000` })
      .resolveAlias('demo.p', 'production')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(String((error as Error).message)).not.toContain(TOKEN);
    expect(inspect(error, { showHidden: true, depth: null })).not.toContain(TOKEN);
    expect(JSON.stringify(bearerAuth(TOKEN))).not.toContain(TOKEN);
    expect(String(Object.values(basicAuth('u', TOKEN)))).not.toContain(TOKEN);
  });

  it("follows MLflow's precedence: basic when username and password are both set, else bearer", () => {
    expect(resolveAuth({ token: 't', username: 'u', password: 'p' })?.header).toBe(
      `Basic ${Buffer.from('u:p').toString('base64')}`,
    );
    expect(resolveAuth({ token: 't', username: 'u' })?.header).toBe('Bearer t');
    expect(resolveAuth({})).toBeUndefined();
  });
});

describe('Retry-After on an unavailable registry', () => {
  it('is kept on the UnavailableError of a 503', async () => {
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(503, '', { headers: { 'retry-after': '60' } });
    const error = await client({ retry: { maxAttempts: 1 } })
      .resolveAlias('demo.p', 'production')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterMs).toBe(60_000);
  });
});

describe('the time budget of one call', () => {
  it('gives a retry only what is left of maxElapsedMs, not a whole timeoutMs', async () => {
    let realNow = 0;
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(503, '', { headers: { 'retry-after': '1' } });
    pool()
      .intercept({ path: /alias/, method: 'GET' })
      .reply(200, { model_version: version(1) })
      .delay(400);
    const started = Date.now();
    const error = await createRegistryClient({
      trackingUri: ORIGIN,
      dispatcher: agent,
      timeoutMs: 5_000,
      retry: { maxElapsedMs: 1_150 },
      // The backoff sleeps 1 s of a fake clock; the attempt after it then has 150 ms left.
      sleep: async (ms) => {
        realNow += ms;
      },
      now: () => realNow + (Date.now() - started),
      random: () => 0,
    })
      .resolveAlias('demo.p', 'production')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
