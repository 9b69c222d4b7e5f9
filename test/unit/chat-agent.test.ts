import { describe, expect, it } from 'vitest';
import {
  type ChatAgentAnswer,
  chatAgentResponse,
  MAX_DATA_CHARS,
  MAX_MESSAGES,
  MAX_QUERY_CHARS,
  parseAgentRequest,
} from '../../lib/agent/chat-agent';
import { InvalidInputError } from '../../lib/errors';

/** The InvalidInputError `body` is refused with (failing the test when it is accepted). */
function refusal(body: unknown): InvalidInputError {
  let accepted: unknown;
  try {
    accepted = parseAgentRequest(body);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ code: 'INVALID_INPUT' });
    return error as InvalidInputError;
  }
  throw new Error(`expected a refusal, got ${JSON.stringify(accepted)}`);
}

const user = (content: string) => ({ role: 'user', content });

describe('parseAgentRequest: a ChatAgentRequest', () => {
  it('accepts messages with optional fields, context and custom_inputs, with stream false', () => {
    const input = parseAgentRequest({
      messages: [
        { role: 'system', content: 'Be brief.', id: 'm0' },
        { role: 'user', content: 'What did we spend?', id: 'm1', name: 'ana' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'spend', arguments: '{}' } }],
        },
        { role: 'tool', content: '{"usd": 10}', name: 'spend', tool_call_id: 'c1' },
        { role: 'assistant', content: 'About $10.' },
        { role: 'user', content: '  And security?  ', id: 'm5' },
      ],
      context: { conversation_id: 'conv-1', user_id: 'user-1' },
      custom_inputs: { data: { security: { findings: 2 } }, domains: ['security', 'cost'] },
      stream: false,
    });
    expect(input).toEqual({
      query: 'And security?',
      history: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What did we spend?' },
        { role: 'tool', content: '{"usd": 10}' },
        { role: 'assistant', content: 'About $10.' },
      ],
      conversationId: 'conv-1',
      userId: 'user-1',
      data: { security: { findings: 2 } },
      domains: ['security', 'cost'],
    });
  });

  it('takes the last user message with content as the query, ignoring an empty one after it', () => {
    const input = parseAgentRequest({
      messages: [user('first'), { role: 'assistant', content: 'answer' }, user('second'), user('   ')],
    });
    expect(input.query).toBe('second');
    expect(input.history).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'answer' },
    ]);
    expect(input).toMatchObject({
      conversationId: undefined,
      userId: undefined,
      data: {},
      domains: undefined,
    });
  });

  it('refuses a conversation that goes on after the last user message, naming the message', () => {
    const error = refusal({ messages: [user('why?'), { role: 'assistant', content: 'because' }] });
    expect(error.message).toMatch(/must end with the user's question/);
    expect(error.issues).toEqual([
      { path: 'messages.1', message: 'expected no message after the last user message' },
    ]);
  });

  it('refuses an unknown top-level field', () => {
    const error = refusal({ messages: [user('hi')], temperature: 0.5 });
    expect(error.issues).toEqual([{ path: '', message: 'unknown field(s): temperature' }]);
  });

  it('refuses an unknown custom_inputs field', () => {
    const error = refusal({ messages: [user('hi')], custom_inputs: { region: 'eu' } });
    expect(error.issues).toEqual([{ path: 'custom_inputs', message: 'unknown field(s): region' }]);
  });

  it('refuses data for an unknown domain', () => {
    const error = refusal({ messages: [user('hi')], custom_inputs: { data: { billing: [] } } });
    expect(error.issues).toEqual([{ path: 'custom_inputs.data', message: 'unknown field(s): billing' }]);
  });

  it('refuses an unknown domain in domains, naming its index', () => {
    const error = refusal({ messages: [user('hi')], custom_inputs: { domains: ['cost', 'billing'] } });
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe('custom_inputs.domains.1');
    expect(error.issues[0]?.message).toMatch(/cost, security, performance, reliability, quality/);
  });

  it.each([
    ['no user message', [{ role: 'assistant', content: 'hello' }]],
    ['a blank user message', [user('   ')]],
  ])('refuses a request with %s', (_, messages) => {
    const error = refusal({ messages });
    expect(error.issues).toEqual([{ path: 'messages', message: 'expected a user message with content' }]);
  });

  it('refuses stream: true, saying streaming is not supported', () => {
    const error = refusal({ messages: [user('hi')], stream: true });
    expect(error.message).toMatch(/streaming is not supported/i);
    expect(error.issues).toEqual([{ path: 'stream', message: 'streaming is not supported' }]);
  });

  it('refuses a question over MAX_QUERY_CHARS, naming the message', () => {
    expect(parseAgentRequest({ messages: [user('x'.repeat(MAX_QUERY_CHARS))] }).query).toHaveLength(
      MAX_QUERY_CHARS,
    );
    const error = refusal({ messages: [user('earlier'), user('x'.repeat(MAX_QUERY_CHARS + 1))] });
    expect(error.issues).toEqual([
      { path: 'messages.1.content', message: `at most ${MAX_QUERY_CHARS} characters` },
    ]);
  });

  it('refuses data over MAX_DATA_CHARS of JSON', () => {
    // {"cost":"…"} is 11 characters around the string: this much is exactly the limit.
    const atLimit = { cost: 'x'.repeat(MAX_DATA_CHARS - 11) };
    expect(parseAgentRequest({ messages: [user('hi')], custom_inputs: { data: atLimit } }).data).toEqual(
      atLimit,
    );
    const data = { cost: 'x'.repeat(MAX_DATA_CHARS) };
    const error = refusal({ messages: [user('hi')], custom_inputs: { data } });
    expect(error.issues).toEqual([
      { path: 'custom_inputs.data', message: `at most ${MAX_DATA_CHARS} characters of JSON` },
    ]);
  });

  it('refuses more than MAX_MESSAGES messages', () => {
    const messages = Array.from({ length: MAX_MESSAGES + 1 }, (_, i) => user(`q${i}`));
    expect(() => parseAgentRequest({ messages: messages.slice(1) })).not.toThrow();
    const error = refusal({ messages });
    expect(error.issues.map((i) => i.path)).toEqual(['messages']);
  });

  it.each([
    ['name', { role: 'tool', content: 'r', tool_call_id: 'c1' }],
    ['tool_call_id', { role: 'tool', content: 'r', name: 'spend' }],
  ])('refuses a tool message without %s', (_, tool) => {
    const error = refusal({ messages: [tool, user('hi')] });
    expect(error.issues).toEqual([
      { path: 'messages.0', message: "a tool message needs 'name' and 'tool_call_id'" },
    ]);
  });

  it('refuses a body that is not an object', () => {
    for (const body of [null, [], 'hi', 3]) refusal(body);
  });
});

describe('parseAgentRequest: the shorthand { query, data? }', () => {
  it('accepts a query and data', () => {
    expect(parseAgentRequest({ query: ' Why is cost up? ', data: { cost: [1, 2] } })).toEqual({
      query: 'Why is cost up?',
      history: [],
      conversationId: undefined,
      userId: undefined,
      data: { cost: [1, 2] },
      domains: undefined,
    });
  });

  it('refuses an unknown field, an unknown domain and too much data, by path', () => {
    expect(refusal({ query: 'q', stream: true }).issues).toEqual([
      { path: '', message: 'unknown field(s): stream' },
    ]);
    expect(refusal({ query: 'q', data: { weather: 1 } }).issues).toEqual([
      { path: 'data', message: 'unknown field(s): weather' },
    ]);
    expect(refusal({ query: 'q', data: { cost: 'x'.repeat(MAX_DATA_CHARS) } }).issues).toEqual([
      { path: 'data', message: `at most ${MAX_DATA_CHARS} characters of JSON` },
    ]);
  });

  it('refuses a blank query and one over MAX_QUERY_CHARS', () => {
    expect(refusal({ query: '   ' }).issues.map((i) => i.path)).toEqual(['query']);
    expect(refusal({ query: 'x'.repeat(MAX_QUERY_CHARS + 1) }).issues.map((i) => i.path)).toEqual(['query']);
  });
});

describe('chatAgentResponse', () => {
  const ANSWER: ChatAgentAnswer = {
    answer: 'Spend is up 4%.',
    traceId: 'tr-0123456789abcdef0123456789abcdef',
    domains: ['cost'],
    prompts: [{ name: 'main.prompts.cost_worker', version: 3, alias: 'production', source: 'registry' }],
    finishReason: 'length',
    usage: { inputTokens: 100, outputTokens: 20, totalTokens: 120 },
  };

  it('answers one assistant message with an id, our outputs and the usage in OpenAI terms', () => {
    expect(chatAgentResponse(ANSWER, 'msg-1')).toEqual({
      messages: [{ role: 'assistant', content: 'Spend is up 4%.', id: 'msg-1' }],
      finish_reason: 'length',
      custom_outputs: {
        traceId: 'tr-0123456789abcdef0123456789abcdef',
        domains: ['cost'],
        prompts: [{ name: 'main.prompts.cost_worker', version: 3, alias: 'production', source: 'registry' }],
      },
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    });
  });

  it('gives each message a fresh id, says stop by default and leaves out unknown usage', () => {
    const first = chatAgentResponse({ ...ANSWER, finishReason: undefined, usage: undefined });
    const second = chatAgentResponse(ANSWER);
    expect(first.messages[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.messages[0]?.id).not.toBe(second.messages[0]?.id);
    expect(first.finish_reason).toBe('stop');
    expect(first).not.toHaveProperty('usage');
  });
});
