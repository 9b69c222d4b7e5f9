/**
 * A prediction end to end against the real MLflow server and the model stand-in: prompts loaded
 * from the registry inside the trace, the trace stored over OTLP and linked to every prompt
 * version before predict returns (checked with MLflow's Python SDK), the cache, and what happens
 * when the registry or the trace endpoint fails.
 */
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AgentInput } from '../../lib/agent/chat-agent';
import { DeadlineExceededError, ModelError } from '../../lib/errors';
import { createChatModel } from '../../lib/model/chat-model';
import { createPredictService, type PredictServiceDeps } from '../../lib/predict/service';
import { snapshotFromFiles, snapshotFromRegistry } from '../../lib/prompt-loader/snapshot';
import type { NamingOptions } from '../../lib/prompts/naming';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { deadlineIn } from '../../lib/runtime/deadline';
import type { RegistryProvider } from '../../lib/runtime/registry-provider';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { createTracer } from '../../lib/tracing/recorder';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../../local/model-standin';
import { agentPromptFiles, registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { capture } from '../support/capture';
import { type FaultyProxy, startFaultyProxy } from '../support/faulty-proxy';
import { type Oracle, startOracle } from '../support/oracle';
import { testPredictSettings } from '../support/predict-settings';

const uri = inject('mlflowUri');
let registry: RegistryClient;
let standin: ModelStandin;
let oracle: Oracle;
let naming: NamingOptions;
let names: Map<string, string>;
let proxy: FaultyProxy;

const SETTINGS = testPredictSettings();

const QUESTION: AgentInput = {
  query: 'Why did our DBU spend rise this week, and did any jobs fail?',
  history: [],
  conversationId: 'conv-1',
  userId: 'user-1',
  data: { cost: { dbus_this_week: 1200, dbus_last_week: 800 } },
  domains: undefined,
};

beforeAll(async () => {
  registry = createRegistryClient({ trackingUri: uri });
  naming = uniqueNaming('predict');
  names = await registerAgentPrompts(registry, naming);
  standin = await startModelStandin();
  oracle = startOracle(uri);
  proxy = await startFaultyProxy(uri);
});

afterAll(async () => {
  await Promise.all([standin?.stop(), oracle?.close(), proxy?.close()]);
});

function providerFor(client: RegistryClient): RegistryProvider {
  return { withRegistry: (work) => work(client) };
}

function serviceWith(overrides: Partial<PredictServiceDeps> & { client?: RegistryClient } = {}) {
  const client = overrides.client ?? createRegistryClient({ trackingUri: uri });
  return {
    client,
    service: createPredictService({
      settings: SETTINGS,
      naming,
      registry: providerFor(client),
      model: async () => createChatModel({ baseUrl: standin.url, name: STANDIN_MODEL }),
      snapshot: () => undefined,
      tracer: createTracer({ content: DEFAULT_CONTENT_POLICY }),
      ...overrides,
    }),
  };
}

interface OracleTrace {
  state: string;
  tags: Record<string, string>;
  token_usage: { input_tokens: number; output_tokens: number; total_tokens: number } | null;
  spans: { name: string; type: string; model: string | null }[];
}

const context = (budgetMs = 20_000) => {
  const captured = capture('predict');
  return { captured, ctx: { log: captured.log, metrics: captured.metrics, deadline: deadlineIn(budgetMs) } };
};

describe('the pinned MLflow server, as the exporter relies on it', () => {
  it('takes a re-sent span batch and a repeated link without harm: one trace, its spans once, linked', async () => {
    const recorder = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
      name: 'resend',
      spanType: 'AGENT',
      inputs: { q: 1 },
    });
    await recorder.inSpan('child', 'CHAT_MODEL', async () => undefined);
    const body = ProtobufTraceSerializer.serializeRequest(recorder.finish({ a: 1 }));
    if (body === undefined) throw new Error('not serialised');
    const name = names.get('cost_worker') as string;
    for (let i = 0; i < 2; i++) {
      await registry.logSpans('0', body);
      expect(await registry.linkPromptsToTrace(recorder.traceId, [{ name, version: 1 }])).toEqual({
        linked: true,
      });
    }
    const trace = await oracle.call<OracleTrace>('get_trace', { trace_id: recorder.traceId });
    expect(trace.spans.map((s) => s.name).sort()).toEqual(['child', 'resend']);
    expect(await oracle.call('traces_for_prompt', { name, version: 1 })).toContain(recorder.traceId);
  });
});

describe('predict service against MLflow', () => {
  it('answers, and the trace is findable by each of the eight prompt versions before predict returns', async () => {
    const { service } = serviceWith();
    const { captured, ctx } = context();
    const answer = await service.predict(QUESTION, ctx);
    ctx.metrics.flush();
    expect(answer.answer).toContain('[stand-in model] Summary');
    expect(answer.traceId).toMatch(/^tr-[0-9a-f]{32}$/);
    expect(answer.domains).toEqual(['cost', 'reliability']);
    expect(answer.prompts).toHaveLength(8);
    for (const prompt of answer.prompts) {
      expect(prompt).toMatchObject({ version: 1, alias: 'production', source: 'registry' });
      expect([...names.values()]).toContain(prompt.name);
    }
    // No waiting, no flush: the links were sent before predict returned.
    for (const name of names.values()) {
      expect(await oracle.call('traces_for_prompt', { name, version: 1 })).toContain(answer.traceId);
    }
    const trace = await oracle.call<OracleTrace>('get_trace', { trace_id: answer.traceId });
    expect(trace.state).toBe('OK');
    expect(trace.tags).toMatchObject({
      prompts_loaded:
        'orchestrator,intent_classifier,synthesizer,cost_worker,security_worker,performance_worker,reliability_worker,quality_worker',
      prompt_catalog: '',
      prompt_schema: '',
    });
    expect(JSON.parse(trace.tags['mlflow.linkedPrompts'] ?? '[]')).toHaveLength(8);
    expect(trace.token_usage?.total_tokens).toBe(answer.usage?.totalTokens);
    expect(trace.spans.map((s) => s.name).sort()).toEqual(
      [
        'agent_predict',
        'classify_intent',
        'load_prompts',
        'synthesize',
        'worker.cost',
        'worker.reliability',
      ].sort(),
    );
    expect(trace.spans.find((s) => s.name === 'synthesize')).toMatchObject({
      type: 'CHAT_MODEL',
      model: STANDIN_MODEL,
    });
    expect(captured.metricTotals()).toMatchObject({ PromptsFromRegistry: 8, TraceExported: 1 });
  });

  it('lists the prompts on the experiment page, as MLflow does for prompts loaded in a trace', async () => {
    const experiment = `it-predict-${naming.prefix}`;
    const { service } = serviceWith({ settings: { ...SETTINGS, experiment: { name: experiment } } });
    const { ctx } = context();
    const answer = await service.predict(QUESTION, ctx);
    const id = await service.experimentId();
    expect(id).not.toBe('0');
    const trace = await oracle.call<OracleTrace & { experiment_id: string }>('get_trace', {
      trace_id: answer.traceId,
    });
    expect(trace.experiment_id).toBe(id);
    const listed = await oracle.call<string[]>('search_prompts_in_experiment', { experiment_id: id });
    expect(listed).toEqual(expect.arrayContaining([...names.values()]));
    const tags = await oracle.call<Record<string, string>>('prompt_tags', {
      name: names.get('orchestrator'),
    });
    expect(tags._mlflow_experiment_ids?.split(',')).toContain(id);
  });

  it('serves warm invocations from the cache: no registry request but the trace and its links', async () => {
    const { service, client } = serviceWith();
    await service.predict(QUESTION, context().ctx);
    const before = client.requestCount;
    const answer = await service.predict(QUESTION, context().ctx);
    expect(answer.prompts.every((p) => p.source === 'cache')).toBe(true);
    // The spans and the links; the experiment tag is already on every prompt.
    expect(client.requestCount - before).toBe(2);
  });

  it('keeps answering when the registry stops mid-run: cached versions, then stale ones', async () => {
    const client = createRegistryClient({ trackingUri: proxy.url });
    const { service } = serviceWith({ client, settings: { ...SETTINGS, ttlMs: 0 } });
    try {
      expect((await service.predict(QUESTION, context().ctx)).prompts[0]?.source).toBe('registry');
      proxy.failPaths(/registered-models\/search/, 503);
      const during = context();
      const served = await service.predict(QUESTION, during.ctx);
      during.ctx.metrics.flush();
      expect(served.prompts.every((p) => p.source === 'cache')).toBe(true);
      expect(during.captured.metricTotals()).toMatchObject({ PromptRefreshFailed: 8, TraceExported: 1 });
      const after = await service.predict(QUESTION, context().ctx);
      expect(after.prompts.every((p) => p.source === 'stale' && p.version === 1)).toBe(true);
      expect(after.answer).toContain('[stand-in model]');
    } finally {
      proxy.up();
    }
  });

  it('answers from the bundled snapshot on a cold start with the registry down, and links its versions', async () => {
    // Taken from the registry the service uses (its address is in the snapshot and compared).
    const client = createRegistryClient({ trackingUri: proxy.url });
    const snapshot = await snapshotFromRegistry(
      client,
      [...names].map(([key, name]) => ({ key, target: { name, alias: 'production' } })),
    );
    const { service } = serviceWith({ client, snapshot: () => snapshot });
    proxy.failPaths(/registered-models\/search/, 503);
    try {
      const { captured, ctx } = context();
      const answer = await service.predict(QUESTION, ctx);
      ctx.metrics.flush();
      expect(answer.prompts.every((p) => p.source === 'fallback' && p.version === 1)).toBe(true);
      expect(captured.metricTotals()).toMatchObject({ PromptsFallback: 8, TraceExported: 1 });
      const fallbackLines = captured.lines.filter(
        (l) => l.message === 'prompt served from the bundled fallback',
      );
      expect(fallbackLines).toHaveLength(8);
      expect(String(fallbackLines[0]?.cause)).toMatch(/UNAVAILABLE/);
      // Known fallback versions are linked like any other.
      expect(
        await oracle.call('traces_for_prompt', { name: names.get('synthesizer'), version: 1 }),
      ).toContain(answer.traceId);
    } finally {
      proxy.up();
    }
  });

  it('answers from the prompt files, unversioned, when no snapshot was taken', async () => {
    const snapshot = snapshotFromFiles(await agentPromptFiles(), naming);
    const client = createRegistryClient({ trackingUri: proxy.url });
    const { service } = serviceWith({ client, snapshot: () => snapshot });
    proxy.down();
    try {
      const { captured, ctx } = context();
      const answer = await service.predict(QUESTION, ctx);
      ctx.metrics.flush();
      expect(
        answer.prompts.every((p) => p.source === 'fallback' && p.version === null && p.alias === null),
      ).toBe(true);
      // The trace could not be stored either (same server): counted, and the answer came.
      expect(captured.metricTotals()).toMatchObject({ TraceExportFailed: 1 });
    } finally {
      proxy.up();
    }
  });

  it('answers when the trace endpoint fails, within the trace budget, and counts the failure', async () => {
    const client = createRegistryClient({ trackingUri: proxy.url });
    const { service } = serviceWith({ client, settings: { ...SETTINGS, traceBudgetMs: 1_500 } });
    await service.predict(QUESTION, context().ctx);
    proxy.failPaths(/^\/v1\/traces/, 500);
    try {
      const { captured, ctx } = context();
      const started = Date.now();
      const answer = await service.predict(QUESTION, ctx);
      const elapsed = Date.now() - started;
      ctx.metrics.flush();
      expect(answer.answer).toContain('[stand-in model]');
      expect(captured.metricTotals()).toMatchObject({ TraceExportFailed: 1 });
      expect(captured.metricTotals().TraceExported).toBeUndefined();
      expect(elapsed).toBeLessThan(1_500 + 1_000);
      expect(captured.lines.some((l) => l.message === 'trace not exported')).toBe(true);
    } finally {
      proxy.up();
    }
  });

  it('records a failed model call on a trace with status ERROR, then fails with MODEL_FAILED', async () => {
    const { service } = serviceWith({
      model: async () =>
        createChatModel({ baseUrl: standin.url, name: STANDIN_MODEL, retry: { maxAttempts: 1 } }),
    });
    standin.fail({ status: 400, body: JSON.stringify({ error: { message: 'context length exceeded' } }) });
    let traceId: string | undefined;
    const failure = await service
      .predict(QUESTION, { ...context().ctx, onTrace: (id) => (traceId = id) })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ModelError);
    expect((failure as ModelError).message).toContain('context length exceeded');
    expect(
      await oracle.call('traces_for_prompt', { name: names.get('intent_classifier'), version: 1 }),
    ).toContain(traceId);
    const trace = await oracle.call<OracleTrace>('get_trace', { trace_id: traceId });
    expect(trace.state).toBe('ERROR');
  });

  it('stores no question, data or answer in a metadata-only trace, only their sizes', async () => {
    const metadataOnly = { mode: 'metadata', maxChars: 16_000 } as const;
    const { service } = serviceWith({
      settings: { ...SETTINGS, content: metadataOnly },
      tracer: createTracer({ content: metadataOnly }),
    });
    const secretQuestion = 'Why did the Zanzibar project overspend?';
    const answer = await service.predict(
      { ...QUESTION, query: secretQuestion, data: { cost: { account: 'acct-7731-private' } } },
      context().ctx,
    );
    const stored = JSON.stringify(await oracle.call('get_trace', { trace_id: answer.traceId }));
    expect(stored).toContain('metadata only');
    for (const content of ['Zanzibar', 'acct-7731-private', '[stand-in model]'])
      expect(stored).not.toContain(content);
  });

  it('gives up with DEADLINE_EXCEEDED when the model is slower than the time left', async () => {
    const { service } = serviceWith({ settings: { ...SETTINGS, traceBudgetMs: 1_000 } });
    await service.predict(QUESTION, context().ctx);
    standin.delayMs = 3_000;
    try {
      const started = Date.now();
      const failure = await service.predict(QUESTION, context(2_500).ctx).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DeadlineExceededError);
      expect(Date.now() - started).toBeLessThan(2_500 + 500);
    } finally {
      standin.delayMs = 0;
    }
  });
});
