/**
 * The prediction's time budgets and failure handling, with fakes for the registry and the model:
 * the final phase (refresh, trace export, links, experiment listing) is bounded by one budget,
 * slow dependencies never hold the answer past the deadline, and failures map to the service's
 * own errors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AgentInput } from '../../lib/agent/chat-agent';
import { DeadlineExceededError, InternalError, InvalidInputError, UnavailableError } from '../../lib/errors';
import type { ChatModel, Completion, CompletionRequest } from '../../lib/model/chat-model';
import { asServerFailure, createPredictService, finalPhaseShareMs } from '../../lib/predict/service';
import type { PredictSettings } from '../../lib/predict/settings';
import { REQUEST_DATA } from '../../lib/predict/settings';
import { type PromptSnapshot, snapshotFromFiles } from '../../lib/prompt-loader/snapshot';
import type { PromptFile } from '../../lib/prompts/file';
import type { PromptTarget, PromptVersion, RegistryClient, ResolvedPrompt } from '../../lib/registry';
import { currentDeadline, deadlineIn } from '../../lib/runtime/deadline';
import type { RegistryProvider } from '../../lib/runtime/registry-provider';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { createTracer } from '../../lib/tracing/recorder';
import { agentPromptFiles } from '../support/agent-prompts';
import { capture } from '../support/capture';

let files: PromptFile[];
beforeAll(async () => {
  files = await agentPromptFiles();
});

const SETTINGS: PredictSettings = {
  alias: 'production',
  pins: new Map(),
  ttlMs: 60_000,
  loadBudgetMs: 500,
  traceBudgetMs: 400,
  maxTokens: 100,
  content: DEFAULT_CONTENT_POLICY,
  experiment: { id: '0' },
  data: REQUEST_DATA,
};

const INPUT: AgentInput = {
  query: 'Why did spend rise?',
  history: [],
  conversationId: undefined,
  userId: undefined,
  data: {},
  domains: ['cost'],
};

function versionOf(file: PromptFile, n = 1): PromptVersion {
  return {
    name: file.name,
    version: n,
    type: typeof file.template === 'string' ? 'text' : 'chat',
    template: file.template,
    variables: [],
    commitMessage: undefined,
    tags: {},
    aliases: ['production'],
    modelConfig: undefined,
    responseFormat: file.responseFormat,
    creationTimestamp: 0,
    lastUpdatedTimestamp: 0,
    userId: undefined,
    uri: `prompts:/${file.name}/${n}`,
  };
}

/** Waits until the current deadline aborts, then rejects as a hung call would. */
const hangUntilDeadline = () =>
  new Promise<never>((_, reject) => {
    const signal = currentDeadline()?.signal;
    signal?.addEventListener('abort', () => reject(new UnavailableError('aborted by the deadline')));
  });

interface FakeOptions {
  readonly resolve?: (targets: readonly PromptTarget[]) => Promise<ResolvedPrompt[]>;
  readonly logSpans?: () => Promise<void>;
  readonly experimentByName?: () => Promise<string | undefined>;
  readonly setPromptTag?: () => Promise<void>;
  readonly trackingUri?: string;
}

function fakeRegistry(options: FakeOptions = {}) {
  const calls: string[] = [];
  const registry = {
    trackingUri: options.trackingUri ?? 'http://mlflow.test',
    async resolvePrompts(targets: readonly PromptTarget[]) {
      calls.push('resolvePrompts');
      if (options.resolve) return options.resolve(targets);
      return targets.map((target) => {
        const file = files.find((f) => f.name === target.name) as PromptFile;
        return { target, version: versionOf(file), promptTags: { _mlflow_experiment_ids: ',0,' } };
      });
    },
    async logSpans() {
      calls.push('logSpans');
      await options.logSpans?.();
    },
    async linkPromptsToTrace() {
      calls.push('linkPromptsToTrace');
      return { linked: true };
    },
    async setPromptTag() {
      calls.push('setPromptTag');
      await options.setPromptTag?.();
    },
    async getExperimentIdByName() {
      calls.push('getExperimentIdByName');
      return options.experimentByName ? options.experimentByName() : '7';
    },
    async createExperiment() {
      return '8';
    },
  } as unknown as RegistryClient;
  const provider: RegistryProvider = { withRegistry: (work) => work(registry) };
  return { provider, calls };
}

function fakeModel(
  complete: (request: CompletionRequest) => Promise<Completion> = async () => answer('ok'),
): ChatModel {
  return { name: 'fake', baseUrl: 'http://model.test/v1', requestCount: 0, complete };
}

const answer = (content: string): Completion => ({
  content,
  model: 'fake',
  finishReason: 'stop',
  usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
});

function service(
  registry: ReturnType<typeof fakeRegistry>,
  overrides: {
    settings?: Partial<PredictSettings>;
    model?: () => Promise<ChatModel>;
    snapshot?: () => PromptSnapshot | undefined;
  } = {},
) {
  return createPredictService({
    settings: { ...SETTINGS, ...overrides.settings },
    naming: {},
    registry: registry.provider,
    model: overrides.model ?? (async () => fakeModel()),
    snapshot: overrides.snapshot ?? (() => undefined),
    tracer: createTracer({ content: DEFAULT_CONTENT_POLICY }),
  });
}

const run = (budgetMs = 5_000) => {
  const captured = capture('predict');
  return {
    captured,
    context: { log: captured.log, metrics: captured.metrics, deadline: deadlineIn(budgetMs) },
  };
};

describe('finalPhaseShareMs', () => {
  it('gives the final phase its budget, or a third of the time left when that is less', () => {
    expect(finalPhaseShareMs(28_500, 5_000)).toBe(5_000);
    expect(finalPhaseShareMs(6_000, 5_000)).toBe(2_000);
    expect(finalPhaseShareMs(0, 5_000)).toBe(0);
  });
});

describe('createPredictService', () => {
  it('answers within the trace budget when the trace endpoint hangs, and counts the failure', async () => {
    const registry = fakeRegistry({ logSpans: hangUntilDeadline });
    const { captured, context } = run();
    const started = Date.now();
    const result = await service(registry).predict(INPUT, context);
    const elapsed = Date.now() - started;
    context.metrics.flush();
    expect(result.answer).toBe('ok');
    expect(elapsed).toBeLessThan(SETTINGS.traceBudgetMs + 300);
    expect(captured.metricTotals()).toMatchObject({ TraceExportFailed: 1 });
  });

  it('bounds the whole final phase by one budget, the experiment lookup by name included', async () => {
    const registry = fakeRegistry({ experimentByName: hangUntilDeadline });
    const { captured, context } = run();
    const started = Date.now();
    await service(registry, { settings: { experiment: { name: 'health' } } }).predict(INPUT, context);
    context.metrics.flush();
    // The lookup started with the work; the final phase waited for it at most its budget.
    expect(Date.now() - started).toBeLessThan(SETTINGS.traceBudgetMs + 300);
    expect(registry.calls[0]).toBe('getExperimentIdByName');
    expect(captured.metricTotals()).toMatchObject({ TraceExportFailed: 1 });
  });

  it('reports nothing and sends nothing once it has answered: a lookup that outlives the final phase is not followed by a late export', async () => {
    // The lookup by name runs without a deadline of its own (it started with the work) and ends
    // after the final phase's budget: the invocation has answered by then.
    const registry = fakeRegistry({
      experimentByName: () =>
        new Promise((resolve) => setTimeout(() => resolve('7'), SETTINGS.traceBudgetMs + 100)),
    });
    const { captured, context } = run();
    await service(registry, { settings: { experiment: { name: 'health' } } }).predict(INPUT, context);
    context.metrics.flush();
    const lines = captured.lines.length;
    const calls = [...registry.calls];
    await new Promise((r) => setTimeout(r, SETTINGS.traceBudgetMs));
    // A line written now would carry the next invocation's request id; a request, run after Lambda froze us.
    expect(captured.lines.slice(lines)).toEqual([]);
    expect(registry.calls).toEqual(calls);
    expect(captured.metricTotals()).toMatchObject({ TraceExportFailed: 1 });
    expect(captured.lines.filter((l) => l.message === 'trace not exported')).toHaveLength(1);
    // The trace's failure says it all: no second line about the same budget.
    expect(captured.lines.filter((l) => l.message === 'final phase not finished in time')).toEqual([]);
  });

  it('counts a trace it exported as exported when the experiment listing alongside outlives the final phase', async () => {
    const registry = fakeRegistry({ setPromptTag: () => new Promise(() => undefined) });
    const { captured, context } = run();
    await service(registry, { settings: { experiment: { name: 'health' } } }).predict(INPUT, context);
    context.metrics.flush();
    expect(registry.calls).toContain('linkPromptsToTrace');
    expect(captured.metricTotals()).toMatchObject({ TraceExported: 1 });
    expect(captured.metricTotals().TraceExportFailed).toBeUndefined();
    // What did not finish is said: the experiment listing, counted as failed.
    expect(captured.metricTotals()).toMatchObject({ PromptExperimentLinkFailed: 1 });
    expect(captured.lines.filter((l) => l.message === 'prompts not listed on the experiment')).toHaveLength(
      1,
    );
  });

  it('says so when only the refresh alongside outlives the final phase, the trace counted as exported', async () => {
    let calls = 0;
    const registry = fakeRegistry({
      resolve: async (targets) => {
        calls += 1;
        // The refresh of the second invocation hangs past every budget.
        if (calls === 2) await new Promise(() => undefined);
        return targets.map((target) => {
          const file = files.find((f) => f.name === target.name) as PromptFile;
          return { target, version: versionOf(file), promptTags: { _mlflow_experiment_ids: ',0,' } };
        });
      },
    });
    const predict = service(registry, { settings: { ttlMs: 0, loadBudgetMs: 5_000 } });
    await predict.predict(INPUT, run().context);
    const { captured, context } = run();
    await predict.predict(INPUT, context);
    context.metrics.flush();
    expect(captured.metricTotals()).toMatchObject({ TraceExported: 1 });
    expect(captured.metricTotals().TraceExportFailed).toBeUndefined();
    expect(captured.lines.filter((l) => l.message === 'final phase not finished in time')).toHaveLength(1);
  });

  it('waits for the refresh that ran alongside before it answers', async () => {
    let releaseRefresh: (() => void) | undefined;
    let refreshed = false;
    let calls = 0;
    const registry = fakeRegistry({
      resolve: async (targets) => {
        calls += 1;
        if (calls === 2) {
          await new Promise<void>((resolve) => {
            releaseRefresh = resolve;
          });
          refreshed = true;
        }
        return targets.map((target) => {
          const file = files.find((f) => f.name === target.name) as PromptFile;
          return { target, version: versionOf(file), promptTags: { _mlflow_experiment_ids: ',0,' } };
        });
      },
    });
    const predict = service(registry, { settings: { ttlMs: 0 } });
    await predict.predict(INPUT, run().context);
    const second = predict.predict(INPUT, run().context);
    let answered = false;
    void second.then(() => {
      answered = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    releaseRefresh?.();
    await second;
    expect(refreshed).toBe(true);
  });

  it('fails with DEADLINE_EXCEEDED when the model configuration (the secret) hangs, within the work time', async () => {
    const registry = fakeRegistry();
    const { context } = run(1_500);
    const started = Date.now();
    const failure = await service(registry, { model: () => new Promise<ChatModel>(() => undefined) })
      .predict(INPUT, context)
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(1_500 + 200);
  });

  it("answers a failure inside the work that reads as the caller's as an internal one, keeping the cause", async () => {
    const registry = fakeRegistry();
    const cause = new InvalidInputError('template needs {{tone}}');
    const failure = await service(registry, {
      model: async () =>
        fakeModel(async () => {
          throw cause;
        }),
    })
      .predict(INPUT, run().context)
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InternalError);
    expect((failure as InternalError).cause).toBe(cause);
  });

  it('serves a snapshot read from another registry without its versions', async () => {
    const registry = fakeRegistry({
      resolve: async () => {
        throw new UnavailableError('down');
      },
      trackingUri: 'http://stage-registry.test',
    });
    const taken = snapshotFromFiles(files, {});
    const fromElsewhere: PromptSnapshot = {
      ...taken,
      source: 'registry',
      registry: 'http://laptop.test',
      entries: taken.entries.map((e) => ({ ...e, version: 3, alias: 'production' })),
    };
    const { captured, context } = run();
    const result = await service(registry, { snapshot: () => fromElsewhere }).predict(INPUT, context);
    expect(result.prompts.every((p) => p.source === 'fallback' && p.version === null)).toBe(true);
    expect(captured.lines.some((l) => String(l.note).includes('http://laptop.test'))).toBe(true);
    const same = await service(
      fakeRegistry({
        resolve: async () => Promise.reject(new UnavailableError('down')),
        trackingUri: 'http://laptop.test',
      }),
      {
        snapshot: () => fromElsewhere,
      },
    ).predict(INPUT, run().context);
    expect(same.prompts.every((p) => p.version === 3)).toBe(true);
  });
});

describe('asServerFailure', () => {
  it("keeps the service's own failures as they are", () => {
    const unavailable = new UnavailableError('down');
    expect(asServerFailure(unavailable)).toBe(unavailable);
  });
});
