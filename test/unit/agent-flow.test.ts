import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AgentInput } from '../../lib/agent/chat-agent';
import { DOMAINS, type Domain } from '../../lib/agent/domains';
import {
  type AgentDeps,
  type AgentPrompts,
  noDataNotice,
  runAgent,
  settingsFrom,
} from '../../lib/agent/flow';
import { ModelError } from '../../lib/errors';
import type { ChatModel, Completion, CompletionRequest } from '../../lib/model/chat-model';
import { loadPromptFiles } from '../../lib/prompts/directory';
import { formatTemplate, type Template } from '../../lib/prompts/template';
import type { JsonObject } from '../../lib/registry';
import { ATTR, DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { createTracer, type TraceRecorder } from '../../lib/tracing/recorder';

type Prompt = {
  template: Template;
  modelConfig: JsonObject | undefined;
  responseFormat: JsonObject | undefined;
};

/** The agent's eight prompts from prompts/*.md, by short name. */
let PROMPTS: Map<string, Prompt>;

beforeAll(async () => {
  const files = await loadPromptFiles(['prompts']);
  PROMPTS = new Map(
    files.map((f) => [
      f.name,
      {
        template: f.template,
        modelConfig: f.modelConfig as JsonObject | undefined,
        responseFormat: f.responseFormat,
      },
    ]),
  );
});

function prompt(key: string): Prompt {
  const found = PROMPTS.get(key);
  if (!found) throw new Error(`no prompt ${key} in prompts/`);
  return found;
}

const text = (key: string) => prompt(key).template as string;

/** Which of the agent's calls a request is, read from the template it carries. */
function callOf(request: CompletionRequest): 'classifier' | 'synthesizer' | Domain {
  const last = request.messages.at(-1)?.content ?? '';
  const head = (key: string) => text(key).split('\n')[0] ?? key;
  if (last.startsWith(head('intent_classifier'))) return 'classifier';
  if (last.startsWith(head('synthesizer'))) return 'synthesizer';
  const domain = DOMAINS.find((d) => last.startsWith(head(`${d}_worker`)));
  if (!domain) throw new Error(`unrecognised request: ${last.slice(0, 60)}`);
  return domain;
}

const USAGE = {
  classifier: { inputTokens: 10, outputTokens: 1, totalTokens: 11 },
  worker: { inputTokens: 20, outputTokens: 2, totalTokens: 22 },
  synthesizer: { inputTokens: 30, outputTokens: 3, totalTokens: 33 },
};

/** A ChatModel that records each request and answers by script. */
function fakeModel(options: { classifier?: string; fail?: (call: string) => Error | undefined } = {}) {
  const requests: CompletionRequest[] = [];
  const model: ChatModel = {
    name: 'fake-model',
    baseUrl: 'http://model.test/v1',
    get requestCount() {
      return requests.length;
    },
    async complete(request): Promise<Completion> {
      requests.push(request);
      const call = callOf(request);
      const failure = options.fail?.(call);
      if (failure) throw failure;
      if (call === 'classifier') {
        return {
          content:
            options.classifier ?? '{"domains": ["cost", "security"], "confidence": 0.8, "reasoning": "r"}',
          model: 'fake-model',
          finishReason: 'stop',
          usage: USAGE.classifier,
        };
      }
      if (call === 'synthesizer') {
        return {
          content: 'the final answer',
          model: 'fake-model-0613',
          finishReason: 'length',
          usage: USAGE.synthesizer,
        };
      }
      return { content: `${call} findings`, model: 'fake-model', finishReason: 'stop', usage: USAGE.worker };
    },
  };
  return { model, requests };
}

function input(overrides: Partial<AgentInput> = {}): AgentInput {
  return {
    query: 'Why did our spend go up?',
    history: [],
    conversationId: undefined,
    userId: undefined,
    data: {},
    domains: undefined,
    ...overrides,
  };
}

function startTrace(): TraceRecorder {
  return createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
    name: 'health_monitor',
    spanType: 'AGENT',
    inputs: {},
  });
}

function run(
  agentInput: AgentInput,
  model: ChatModel,
  overrides: Partial<AgentDeps> & { prompts?: AgentPrompts } = {},
) {
  const trace = overrides.trace ?? startTrace();
  const result = runAgent(overrides.prompts ?? PROMPTS, agentInput, {
    model,
    trace,
    maxTokens: 512,
    ...overrides,
  });
  return { trace, result };
}

const FIRST_QUESTION = 'Conversation so far: (none; this is the first question)';

const orchestratorSystem = (query: string, context: string) => ({
  role: 'system',
  content: formatTemplate(text('orchestrator'), { query, context }),
});

const requestsFor = (requests: CompletionRequest[], call: string) =>
  requests.filter((r) => callOf(r) === call);

function span(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.find((s) => s.name === name);
  if (!found) throw new Error(`no span '${name}' among ${spans.map((s) => s.name).join(', ')}`);
  return found;
}

describe('runAgent', () => {
  it('sends the classifier its template with the query, and its response format as the JSON schema', async () => {
    const { model, requests } = fakeModel();
    await run(input(), model).result;
    const [classify] = requestsFor(requests, 'classifier');
    expect(requestsFor(requests, 'classifier')).toHaveLength(1);
    expect(classify).toEqual({
      messages: [
        {
          role: 'user',
          content: formatTemplate(text('intent_classifier'), { query: 'Why did our spend go up?' }),
        },
      ],
      maxTokens: 512,
      temperature: 0,
      topP: undefined,
      frequencyPenalty: undefined,
      presencePenalty: undefined,
      stop: undefined,
      jsonSchema: { name: 'intent', schema: prompt('intent_classifier').responseFormat },
    });
    expect(classify?.messages[0]?.content).toContain('User Query: Why did our spend go up?');
  });

  it('runs a worker for each chosen domain: the orchestrator as system message, the worker with its data as user message', async () => {
    const { model, requests } = fakeModel();
    const data = { cost: { usd: [100, 140] } };
    await run(input({ data }), model).result;
    const context = `${FIRST_QUESTION}\nDomains consulted: cost, security`;
    const system = orchestratorSystem('Why did our spend go up?', context);
    expect(requests.map(callOf).sort()).toEqual(['classifier', 'cost', 'security', 'synthesizer']);
    expect(requestsFor(requests, 'cost')[0]?.messages).toEqual([
      system,
      {
        role: 'user',
        content: formatTemplate(text('cost_worker'), {
          query: 'Why did our spend go up?',
          data: JSON.stringify(data.cost, null, 2),
        }),
      },
    ]);
    expect(requestsFor(requests, 'security')[0]?.messages).toEqual([
      system,
      {
        role: 'user',
        content: formatTemplate(text('security_worker'), {
          query: 'Why did our spend go up?',
          data: noDataNotice('security'),
        }),
      },
    ]);
  });

  it('gives the synthesizer the workers’ answers as domain_responses and returns its answer', async () => {
    const { model, requests } = fakeModel();
    const { result } = run(input(), model);
    const outcome = await result;
    const [synthesize] = requestsFor(requests, 'synthesizer');
    expect(synthesize?.messages).toEqual([
      orchestratorSystem('Why did our spend go up?', `${FIRST_QUESTION}\nDomains consulted: cost, security`),
      {
        role: 'user',
        content: formatTemplate(text('synthesizer'), {
          query: 'Why did our spend go up?',
          domain_responses: '## cost\ncost findings\n\n## security\nsecurity findings',
        }),
      },
    ]);
    expect(outcome).toMatchObject({
      answer: 'the final answer',
      domains: ['cost', 'security'],
      finishReason: 'length',
      classification: { domains: ['cost', 'security'], confidence: 0.8, fallback: undefined },
    });
  });

  it('puts the conversation so far in the orchestrator context', async () => {
    const { model, requests } = fakeModel();
    const history = [
      { role: 'user', content: 'How much did we spend?' },
      { role: 'assistant', content: '$140.' },
    ];
    await run(input({ history, domains: ['cost'] }), model).result;
    const context =
      'Conversation so far:\nuser: How much did we spend?\nassistant: $140.\nDomains consulted: cost';
    expect(requestsFor(requests, 'cost')[0]?.messages[0]).toEqual(
      orchestratorSystem('Why did our spend go up?', context),
    );
  });

  it('skips the classifier when the request names the domains', async () => {
    const { model, requests } = fakeModel();
    const { trace, result } = run(input({ domains: ['quality', 'reliability'] }), model);
    const outcome = await result;
    expect(requests.map(callOf).sort()).toEqual(['quality', 'reliability', 'synthesizer']);
    expect(requests.some((r) => r.jsonSchema !== undefined)).toBe(false);
    expect(outcome.classification).toBeUndefined();
    expect(outcome.domains).toEqual(['quality', 'reliability']);
    const root = span(trace.finish('done'), 'health_monitor');
    expect(root.attributes).toMatchObject({
      'promptops.domains_from': 'request',
      'promptops.domains': ['quality', 'reliability'],
    });
  });

  it('falls back to the domains with data when the classifier answers garbage, and says so on the root span', async () => {
    const { model, requests } = fakeModel({ classifier: 'Sure! It is about performance.' });
    const { trace, result } = run(input({ data: { performance: 'p95 12s' } }), model);
    const outcome = await result;
    expect(outcome.domains).toEqual(['performance']);
    expect(outcome.classification?.fallback).toBe('the classifier did not answer with JSON');
    expect(requests.map(callOf).sort()).toEqual(['classifier', 'performance', 'synthesizer']);
    expect(requestsFor(requests, 'performance')[0]?.messages[1]?.content).toContain('Data: p95 12s');
    const root = span(trace.finish('done'), 'health_monitor');
    expect(root.attributes).toMatchObject({
      'promptops.domains_from': 'fallback',
      'promptops.classifier.fallback': 'the classifier did not answer with JSON',
    });
  });

  it('asks the data provider for a domain the request brought no data for', async () => {
    const { model, requests } = fakeModel();
    const asked: Domain[] = [];
    await run(input({ data: { cost: 'from the request' } }), model, {
      dataProvider: async (domain) => {
        asked.push(domain);
        return { provided: domain };
      },
    }).result;
    expect(asked).toEqual(['security']);
    expect(requestsFor(requests, 'cost')[0]?.messages[1]?.content).toContain('Data: from the request');
    expect(requestsFor(requests, 'security')[0]?.messages[1]?.content).toContain(
      JSON.stringify({ provided: 'security' }, null, 2),
    );
  });

  it("caps max_tokens: the prompt's own max_tokens when lower, the cap otherwise", async () => {
    const { model, requests } = fakeModel();
    const prompts = new Map(PROMPTS);
    prompts.set('cost_worker', {
      ...prompt('cost_worker'),
      modelConfig: { max_tokens: 100, temperature: 0.7 },
    });
    prompts.set('synthesizer', { ...prompt('synthesizer'), modelConfig: { max_tokens: 4_000 } });
    await run(input(), model, { prompts }).result;
    expect(requestsFor(requests, 'cost')[0]).toMatchObject({ maxTokens: 100, temperature: 0.7 });
    expect(requestsFor(requests, 'synthesizer')[0]?.maxTokens).toBe(512);
    expect(requestsFor(requests, 'security')[0]?.maxTokens).toBe(512);
    expect(requestsFor(requests, 'classifier')[0]?.maxTokens).toBe(512);
  });

  it('sums the token usage of every call', async () => {
    const { model } = fakeModel();
    const outcome = await run(input(), model).result;
    expect(outcome.usage).toEqual({
      inputTokens: 10 + 20 + 20 + 30,
      outputTokens: 1 + 2 + 2 + 3,
      totalTokens: 11 + 22 + 22 + 33,
    });
  });

  it('records one CHAT_MODEL span per call, under the root, with the model and its token usage', async () => {
    const { model } = fakeModel();
    const { trace, result } = run(input(), model);
    await result;
    const spans = trace.finish('done');
    expect(spans.map((s) => s.name).sort()).toEqual([
      'classify_intent',
      'health_monitor',
      'synthesize',
      'worker.cost',
      'worker.security',
    ]);
    const rootId = span(spans, 'health_monitor').spanContext().spanId;
    const expected = {
      classify_intent: { model: 'fake-model', usage: USAGE.classifier },
      'worker.cost': { model: 'fake-model', usage: USAGE.worker },
      'worker.security': { model: 'fake-model', usage: USAGE.worker },
      synthesize: { model: 'fake-model-0613', usage: USAGE.synthesizer },
    };
    for (const [name, { model: answeredBy, usage }] of Object.entries(expected)) {
      const s = span(spans, name);
      expect(s.parentSpanContext?.spanId).toBe(rootId);
      expect(s.status.code).toBe(SpanStatusCode.OK);
      expect(s.attributes[ATTR.spanType]).toBe('CHAT_MODEL');
      expect(s.attributes[ATTR.model]).toBe(answeredBy);
      expect(JSON.parse(String(s.attributes[ATTR.tokenUsage]))).toEqual({
        input_tokens: usage.inputTokens,
        output_tokens: usage.outputTokens,
        total_tokens: usage.totalTokens,
      });
    }
    const classify = span(spans, 'classify_intent');
    expect(JSON.parse(String(classify.attributes[ATTR.inputs]))).toMatchObject({
      max_tokens: 512,
      temperature: 0,
      response_format: prompt('intent_classifier').responseFormat,
    });
  });

  it('marks the failing call’s span ERROR and propagates the model error', async () => {
    const failure = new ModelError('model fake-model at http://model.test/v1: HTTP 500', { httpStatus: 500 });
    const { model, requests } = fakeModel({ fail: (call) => (call === 'security' ? failure : undefined) });
    const { trace, result } = run(input(), model);
    await expect(result).rejects.toBe(failure);
    expect(requestsFor(requests, 'synthesizer')).toEqual([]);
    const spans = trace.finish(undefined, failure);
    const failed = span(spans, 'worker.security');
    expect(failed.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: `MODEL_FAILED: ${failure.message}`,
    });
    expect(failed.events.map((e) => e.name)).toEqual(['exception']);
    expect(span(spans, 'worker.cost').status.code).toBe(SpanStatusCode.OK);
    expect(spans.some((s) => s.name === 'synthesize')).toBe(false);
  });
});

describe('settingsFrom', () => {
  it('reads the numbers of a PromptModelConfig, capping max_tokens', () => {
    expect(
      settingsFrom(
        {
          max_tokens: 300,
          temperature: 0.2,
          top_p: 0.9,
          frequency_penalty: 0.1,
          presence_penalty: 0.3,
          stop_sequences: ['END', 7, 'STOP'],
        },
        1_000,
      ),
    ).toEqual({
      maxTokens: 300,
      temperature: 0.2,
      topP: 0.9,
      frequencyPenalty: 0.1,
      presencePenalty: 0.3,
      stop: ['END', 'STOP'],
    });
  });

  it('uses the cap when the config has no max_tokens or a larger one, and ignores non-numbers', () => {
    expect(settingsFrom(undefined, 256)).toEqual({
      maxTokens: 256,
      temperature: undefined,
      topP: undefined,
      frequencyPenalty: undefined,
      presencePenalty: undefined,
      stop: undefined,
    });
    expect(settingsFrom({ max_tokens: 10_000, temperature: 'hot' }, 256)).toMatchObject({
      maxTokens: 256,
      temperature: undefined,
    });
  });
});

describe('noDataNotice', () => {
  it('names the domain and forbids invented figures', () => {
    expect(noDataNotice('reliability')).toMatch(/^No reliability data was provided/);
    expect(noDataNotice('reliability')).toMatch(/do not invent figures/);
  });
});
