import { inspect } from 'node:util';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeadlineExceededError, InvalidInputError, ModelError } from '../../lib/errors';
import { type ChatModelOptions, type CompletionRequest, createChatModel } from '../../lib/model/chat-model';
import { deadlineIn, withDeadline } from '../../lib/runtime/deadline';

const ORIGIN = 'http://model.test:8080';
const BASE_URL = `${ORIGIN}/v1`;
const PATH = '/v1/chat/completions';
const API_KEY = 'sk-UNIT-SECRET-7c1d';

let agent: MockAgent;
let sleeps: number[];
let clock: number;

function model(overrides: Partial<ChatModelOptions> = {}) {
  return createChatModel({
    baseUrl: BASE_URL,
    name: 'gpt-unit',
    apiKey: API_KEY,
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

const completion = (content: string | null = 'hello', extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-unit-2026-01-01',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
  ...extra,
});

const REQUEST: CompletionRequest = {
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Why?' },
  ],
  maxTokens: 256,
};

/** Replies `answer` to one POST, keeping what was sent. */
function captureOne(answer: unknown = completion()) {
  const sent: { body?: unknown; headers?: Record<string, string> } = {};
  pool()
    .intercept({
      path: PATH,
      method: 'POST',
      headers: (headers) => {
        sent.headers = headers;
        return true;
      },
      body: (body) => {
        sent.body = JSON.parse(body);
        return true;
      },
    })
    .reply(200, answer as object);
  return sent;
}

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  sleeps = [];
  clock = Date.UTC(2026, 0, 1, 12, 0, 0);
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

describe('createChatModel: the request', () => {
  it('posts model, messages and max_tokens to {baseUrl}/chat/completions, leaving unset settings out', async () => {
    const sent = captureOne();
    await model().complete(REQUEST);
    expect(sent.body).toEqual({
      model: 'gpt-unit',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Why?' },
      ],
      max_tokens: 256,
      stream: false,
    });
    expect(sent.headers).toMatchObject({ 'content-type': 'application/json', accept: 'application/json' });
  });

  it('sends temperature, top_p, stop and a json_schema response_format when they are set', async () => {
    const sent = captureOne();
    const schema = { type: 'object', properties: { domains: { type: 'array' } } };
    await model().complete({
      ...REQUEST,
      temperature: 0,
      topP: 0.9,
      stop: ['END'],
      jsonSchema: { name: 'intent', schema },
    });
    expect(sent.body).toMatchObject({
      temperature: 0,
      top_p: 0.9,
      stop: ['END'],
      response_format: { type: 'json_schema', json_schema: { name: 'intent', schema } },
    });
  });

  it('leaves out an empty stop list', async () => {
    const sent = captureOne();
    await model().complete({ ...REQUEST, stop: [] });
    expect(sent.body).not.toHaveProperty('stop');
  });

  it('sends the key as a Bearer Authorization header when an apiKey is set', async () => {
    const sent = captureOne();
    await model().complete(REQUEST);
    expect(sent.headers?.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('sends no Authorization header when no apiKey is set', async () => {
    const sent = captureOne();
    await model({ apiKey: undefined }).complete(REQUEST);
    expect(sent.headers).toBeDefined();
    expect(sent.headers).not.toHaveProperty('authorization');
  });
});

describe('createChatModel: the answer', () => {
  it('reads the first choice, the finish reason, the usage and the model that answered', async () => {
    captureOne();
    const chat = model();
    await expect(chat.complete(REQUEST)).resolves.toEqual({
      content: 'hello',
      model: 'gpt-unit-2026-01-01',
      finishReason: 'stop',
      usage: { inputTokens: 12, outputTokens: 5, totalTokens: 17 },
    });
    expect(chat.requestCount).toBe(1);
  });

  it('falls back to the configured name, sums a missing total and reads null content as empty', async () => {
    const answer = {
      choices: [{ message: { role: 'assistant', content: null }, finish_reason: null }],
      usage: { prompt_tokens: 3, completion_tokens: 4 },
    };
    captureOne(answer);
    await expect(model().complete(REQUEST)).resolves.toEqual({
      content: '',
      model: 'gpt-unit',
      finishReason: undefined,
      usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 },
    });
  });

  it('reports no usage when the endpoint sends none', async () => {
    captureOne(completion('x', { usage: null }));
    await expect(model().complete(REQUEST)).resolves.toMatchObject({ usage: undefined });
  });

  it('refuses a 200 that is not JSON with a ModelError, without retrying', async () => {
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, '<html>gateway</html>');
    const chat = model();
    const error = await chat.complete(REQUEST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'MODEL_FAILED', httpStatus: 200 });
    expect((error as Error).message).toMatch(/not JSON/);
    expect(chat.requestCount).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('refuses a 200 that is not a chat completion with a ModelError', async () => {
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, { choices: [] });
    const error = await model()
      .complete(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'MODEL_FAILED', httpStatus: 200 });
    expect((error as Error).message).toMatch(/not a chat completion/);
  });
});

describe('createChatModel: retries', () => {
  it.each([408, 429, 500, 502, 503, 504, 529])('retries HTTP %i and succeeds', async (status) => {
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(status, { error: { message: 'busy' } });
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, completion('second'));
    const chat = model();
    await expect(chat.complete(REQUEST)).resolves.toMatchObject({ content: 'second' });
    expect(chat.requestCount).toBe(2);
    expect(sleeps).toEqual([200]);
  });

  it('backs off exponentially between attempts', async () => {
    pool().intercept({ path: PATH, method: 'POST' }).reply(503, '').times(3);
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, completion());
    await model().complete(REQUEST);
    expect(sleeps).toEqual([200, 400, 800]);
  });

  it('honours a Retry-After in seconds', async () => {
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(429, { error: { message: 'rate limited' } }, { headers: { 'retry-after': '7' } });
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, completion());
    await model().complete(REQUEST);
    expect(sleeps).toEqual([7_000]);
  });

  it('honours a Retry-After given as an HTTP date', async () => {
    const at = new Date(clock + 3_000).toUTCString();
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(503, '', { headers: { 'retry-after': at } });
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, completion());
    await model().complete(REQUEST);
    expect(sleeps).toEqual([3_000]);
  });

  it('retries network errors and then fails with a ModelError carrying the cause and no status', async () => {
    pool().intercept({ path: PATH, method: 'POST' }).replyWithError(new Error('ECONNRESET')).times(3);
    const chat = model({ retry: { maxAttempts: 3 } });
    const error = await chat.complete(REQUEST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'MODEL_FAILED', httpStatus: undefined });
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(chat.requestCount).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it('gives up after maxAttempts with the last status and the endpoint error message', async () => {
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(429, { error: { message: 'Rate limit reached for requests' } })
      .times(2);
    const error = await model({ retry: { maxAttempts: 2 } })
      .complete(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'MODEL_FAILED', httpStatus: 429 });
    expect((error as Error).message).toContain('Rate limit reached for requests');
  });

  it.each([400, 401])('does not retry HTTP %i', async (status) => {
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(status, { error: { message: `refused with ${status}`, type: 'invalid_request_error' } });
    const chat = model();
    const error = await chat.complete(REQUEST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'MODEL_FAILED', httpStatus: status });
    expect((error as Error).message).toContain(`refused with ${status}`);
    expect(chat.requestCount).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('times out a slow answer as a failed attempt', async () => {
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, completion()).delay(500);
    const error = await model({ timeoutMs: 50, retry: { maxAttempts: 1 } })
      .complete(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ httpStatus: undefined });
  });
});

describe('createChatModel under a deadline', () => {
  it('does not wait out a Retry-After past the deadline: DeadlineExceededError with the 429 as cause', async () => {
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(429, { error: { message: 'slow down' } }, { headers: { 'retry-after': '30' } });
    const chat = model();
    const error = await withDeadline(deadlineIn(1_000), () => chat.complete(REQUEST)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect((error as Error).cause).toBeInstanceOf(ModelError);
    expect((error as Error).cause).toMatchObject({ httpStatus: 429 });
    expect(chat.requestCount).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('gives an attempt only the time left of the deadline, not its whole timeout', async () => {
    pool().intercept({ path: PATH, method: 'POST' }).reply(200, completion()).delay(2_000);
    const started = Date.now();
    const error = await withDeadline(deadlineIn(100), () =>
      model({ timeoutMs: 60_000 }).complete(REQUEST),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).cause).toBeInstanceOf(ModelError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('createChatModel: credentials', () => {
  it('never carries the API key in the error, even when the endpoint echoes it', async () => {
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(401, { error: { message: `Incorrect API key provided: ${API_KEY}.` } });
    const error = await model()
      .complete(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as Error).message).toContain('Incorrect API key provided');
    expect((error as Error).message).not.toContain(API_KEY);
    expect(inspect(error, { showHidden: true, depth: null })).not.toContain(API_KEY);
  });

  it('strips credentials from the base URL and does not show them in errors', async () => {
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply(400, { error: { message: 'bad' } });
    const chat = model({ baseUrl: `http://user:${API_KEY}@model.test:8080/v1/`, apiKey: undefined });
    expect(chat.baseUrl).toBe(BASE_URL);
    const error = await chat.complete(REQUEST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect(inspect(error, { showHidden: true, depth: null })).not.toContain(API_KEY);
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(() => model({ baseUrl: 'ftp://model.test/v1' })).toThrow(InvalidInputError);
    expect(() => model({ baseUrl: 'ftp://model.test/v1' })).toThrow(/http\(s\)/);
  });

  it('refuses a base URL that is not a URL without echoing it', () => {
    const attempt = () => model({ baseUrl: `not a url ${API_KEY}` });
    expect(attempt).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(attempt).not.toThrow(new RegExp(API_KEY));
  });

  it('refuses an empty model name', () => {
    expect(() => model({ name: '  ' })).toThrow(InvalidInputError);
  });
});

describe('a model behind renewed credentials (a Databricks serving endpoint with OAuth M2M)', () => {
  /** Hands out tok-1, tok-2, ... and drops the current one when it is refused. */
  function renewing() {
    let issued = 0;
    let current: string | undefined;
    const refused: string[] = [];
    return {
      refused,
      credentials: {
        authorization: async () => {
          current ??= `Bearer tok-${++issued}`;
          return current;
        },
        refused: (header: string) => {
          refused.push(header);
          if (header === current) current = undefined;
        },
      },
    };
  }

  const answered = (status: number, seen: string[], body: object = completion('served')) =>
    pool()
      .intercept({ path: PATH, method: 'POST' })
      .reply((sent) => {
        seen.push(String((sent.headers as Record<string, string>).authorization));
        return { statusCode: status, data: body };
      });

  it('sends the current token, and after a 401 renews it and sends the request once more', async () => {
    const { credentials, refused } = renewing();
    const seen: string[] = [];
    answered(401, seen, { error: { message: 'token expired' } });
    answered(200, seen);
    const chat = model({ apiKey: undefined, credentials });
    expect((await chat.complete(REQUEST)).content).toBe('served');
    expect(seen).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(refused).toEqual(['Bearer tok-1']);
  });

  it('renews once per completion: a second 401 is the answer', async () => {
    const { credentials } = renewing();
    const seen: string[] = [];
    answered(401, seen);
    answered(401, seen);
    const error = await model({ apiKey: undefined, credentials })
      .complete(REQUEST)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).message).toMatch(/HTTP 401/);
    expect(seen).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });

  it('never carries the renewed token in an error, even when the endpoint echoes it', async () => {
    let n = 1;
    const credentials = {
      authorization: async () => `Bearer oauth-token-${n}`,
      refused: () => {
        n += 1;
      },
    };
    const seen: string[] = [];
    answered(401, seen, { error: { message: 'bad header Bearer oauth-token-1' } });
    answered(403, seen, { error: { message: 'no access for Bearer oauth-token-2' } });
    const error = await model({ apiKey: undefined, credentials })
      .complete(REQUEST)
      .catch((e: unknown) => e);
    expect((error as ModelError).message).toMatch(/HTTP 403: no access for Bearer \[redacted\]/);
    expect(inspect(error, { showHidden: true, depth: null })).not.toMatch(/oauth-token-\d/);
  });

  it('does not send a token again that cannot change (a personal access token)', async () => {
    const seen: string[] = [];
    answered(401, seen, { error: { message: 'Invalid access token' } });
    const pat = { authorization: async () => 'Bearer dapi-fixed-token', refused: () => {} };
    const chat = model({ apiKey: undefined, credentials: pat });
    await expect(chat.complete(REQUEST)).rejects.toBeInstanceOf(ModelError);
    expect(seen).toEqual(['Bearer dapi-fixed-token']);
    expect(chat.requestCount).toBe(1);
  });

  it('takes an API key or renewed credentials, not both', () => {
    expect(() => model({ credentials: renewing().credentials })).toThrow(/not both/);
  });
});
