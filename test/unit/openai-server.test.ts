/**
 * The local model's OpenAI-compatible endpoint, over a scripted engine (the real model runs in the
 * integration tests): the project's own model client and OpenAI's SDK both talk to it as to
 * OpenAI, requests reach the engine as sent (capped at the server's max_tokens), and what it
 * refuses comes back in OpenAI's error shape, naming what is wrong.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createChatModel } from '../../lib/model/chat-model';
import {
  type ChatEngine,
  ContextLengthError,
  type EngineAnswer,
  type EngineRequest,
  UnsupportedSchemaError,
} from '../../local/llama-engine';
import { type OpenAiServer, startOpenAiServer } from '../../local/openai-server';

interface ScriptedEngine extends ChatEngine {
  readonly received: EngineRequest[];
  closed: boolean;
}

function scriptedEngine(
  answer: (request: EngineRequest) => Promise<EngineAnswer> | EngineAnswer,
): ScriptedEngine {
  const engine: ScriptedEngine = {
    name: 'scripted-135m',
    received: [],
    closed: false,
    complete: async (request) => {
      engine.received.push(request);
      return answer(request);
    },
    close: async () => {
      engine.closed = true;
    },
  };
  return engine;
}

const ANSWER: EngineAnswer = {
  text: 'Spend rose with job retries.',
  finishReason: 'stop',
  promptTokens: 41,
  completionTokens: 7,
};
const SCHEMA = {
  type: 'object',
  properties: { domains: { type: 'array', items: { type: 'string' } } },
  required: ['domains'],
};

let server: OpenAiServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function serve(engine: ChatEngine, maxTokens = 64): Promise<OpenAiServer> {
  server = await startOpenAiServer({ engine, maxTokens });
  return server;
}

async function post(url: string, body: unknown, method = 'POST') {
  const response = await fetch(`${url}/chat/completions`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(method === 'POST' ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return {
    status: response.status,
    body: (await response.json()) as { error: { message: string; type: string; code: string } },
  };
}

describe('the local OpenAI-compatible endpoint', () => {
  it("answers the project's model client as OpenAI would, usage included, JSON schema passed to the engine", async () => {
    const engine = scriptedEngine(() => ({ ...ANSWER, text: '{"domains":["cost"]}' }));
    const { url } = await serve(engine, 64);
    const model = createChatModel({ baseUrl: url, name: 'anything' });
    const messages = [
      { role: 'system', content: 'Classify.' },
      { role: 'user', content: 'Why did spend rise?' },
    ] as const;
    const completion = await model.complete({
      messages,
      maxTokens: 500,
      temperature: 0,
      stop: ['\n\n'],
      jsonSchema: { name: 'intent', schema: SCHEMA },
    });
    expect(completion).toEqual({
      content: '{"domains":["cost"]}',
      model: 'scripted-135m',
      finishReason: 'stop',
      usage: { inputTokens: 41, outputTokens: 7, totalTokens: 48 },
    });
    const [sent] = engine.received;
    expect(sent).toMatchObject({
      messages,
      // Capped at the server's limit: the local model is slow.
      maxTokens: 64,
      temperature: 0,
      stop: ['\n\n'],
      jsonSchema: SCHEMA,
    });
  });

  it("answers OpenAI's own SDK, with a cut answer's finish reason and text parts joined", async () => {
    const engine = scriptedEngine((request) => ({
      ...ANSWER,
      finishReason: 'length',
      completionTokens: request.maxTokens,
    }));
    const { url } = await serve(engine, 64);
    const client = new OpenAI({ baseURL: url, apiKey: 'unused-locally', maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'whatever',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Which jobs ' },
            { type: 'text', text: 'failed?' },
          ],
        },
      ],
      max_completion_tokens: 16,
      response_format: { type: 'json_object' },
    });
    expect(completion.choices[0]?.message.content).toBe(ANSWER.text);
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage).toEqual({ prompt_tokens: 41, completion_tokens: 16, total_tokens: 57 });
    expect(engine.received[0]).toMatchObject({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Which jobs failed?' },
      ],
      maxTokens: 16,
      json: true,
    });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['scripted-135m']);
  });

  it('refuses what it cannot do in OpenAI error shape, naming the problem, without calling the engine', async () => {
    const engine = scriptedEngine(() => ANSWER);
    const { url } = await serve(engine);
    const user = [{ role: 'user', content: 'hi' }];
    const cases: [unknown, number, string, RegExp][] = [
      [{ messages: user, stream: true }, 400, 'unsupported', /streaming/],
      [{ messages: user, n: 2 }, 400, 'unsupported', /one choice/],
      [
        { messages: user, tools: [{ type: 'function', function: { name: 'f' } }] },
        400,
        'unsupported',
        /tool calls/,
      ],
      [{ messages: [] }, 400, 'invalid_request', /messages.*at least one/],
      [{ messages: [{ role: 'tool', content: 'x' }] }, 400, 'invalid_request', /role/],
      [{ messages: user, max_tokens: 0 }, 400, 'invalid_request', /max_tokens/],
      [{ messages: user, response_format: { type: 'xml' } }, 400, 'invalid_request', /response_format/],
      ['{not json', 400, 'invalid_json', /not JSON/],
    ];
    for (const [body, status, code, message] of cases) {
      const answer = await post(url, body);
      expect(answer.status, JSON.stringify(body)).toBe(status);
      expect(answer.body.error).toMatchObject({ type: 'invalid_request_error', code });
      expect(answer.body.error.message).toMatch(message);
    }
    // Too large: refused, and the connection closed, since the rest of the body is never read.
    const large = await fetch(`${url}/chat/completions`, { method: 'POST', body: 'x'.repeat(1_100_000) });
    expect(large.status).toBe(413);
    expect(large.headers.get('connection')).toBe('close');
    expect((await post(url, {}, 'GET')).status).toBe(405);
    const missing = await fetch(`${url}/completions`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
    expect(engine.received).toHaveLength(0);
  });

  it('answers a schema the grammar cannot express with a 400, and an engine failure with a 500 that hides it', async () => {
    let fail: Error = new UnsupportedSchemaError(
      "response_format's JSON schema cannot be turned into a grammar: uniqueItems",
    );
    const engine = scriptedEngine(() => {
      throw fail;
    });
    const { url } = await serve(engine);
    const request = {
      messages: [{ role: 'user', content: 'hi' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'x', schema: { type: 'array', uniqueItems: true } },
      },
    };
    const unsupported = await post(url, request);
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.error).toMatchObject({ code: 'unsupported_schema' });
    expect(unsupported.body.error.message).toMatch(/uniqueItems/);
    fail = new ContextLengthError(
      "the prompt is 5000 tokens; it does not fit the local model's context of 4096 tokens",
    );
    const long = await post(url, request);
    expect(long.status).toBe(400);
    expect(long.body.error).toMatchObject({ code: 'context_length_exceeded' });
    fail = new Error('ggml_abort at /build/llama.cpp:1234 secret-path');
    const crashed = await post(url, request);
    expect(crashed.status).toBe(500);
    expect(crashed.body.error).toMatchObject({ type: 'server_error', code: 'model_failed' });
    expect(JSON.stringify(crashed.body)).not.toMatch(/ggml|secret-path/);
  });

  it('stops a generation whose client hung up, and closes the engine on stop', async () => {
    let aborted: Promise<void> | undefined;
    const engine = scriptedEngine(
      (request) =>
        new Promise<EngineAnswer>((_, reject) => {
          aborted = new Promise((resolve) =>
            request.signal?.addEventListener('abort', () => {
              resolve();
              reject(new Error('aborted'));
            }),
          );
        }),
    );
    const { url } = await serve(engine);
    const gone = new AbortController();
    const pending = fetch(`${url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ messages: [{ role: 'user', content: 'a long answer' }] }),
      signal: gone.signal,
    }).catch(() => 'hung up');
    await expect.poll(() => engine.received.length).toBe(1);
    gone.abort();
    expect(await pending).toBe('hung up');
    // The engine's signal fired: the generation stops (the engine then takes the next request).
    await aborted;
    await server?.stop();
    server = undefined;
    expect(engine.closed).toBe(true);
  });
});
