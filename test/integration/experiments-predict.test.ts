/**
 * An experiment on a prompt, assigned in predict, against the real MLflow server: the definition
 * in the prompt's tag, the variant loaded beside control (no request of its own once known), each
 * user kept in one arm, the arm on the trace (MLflow's Python SDK finds one arm by a tag filter,
 * and the variant's version by its prompt link), and a variant that cannot be loaded served as
 * control, flagged, never failing the request.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AgentInput } from '../../lib/agent/chat-agent';
import { type ExperimentDefinition, experimentTagValue } from '../../lib/experiments/definition';
import { ARM_TAGS } from '../../lib/experiments/serve';
import { createChatModel } from '../../lib/model/chat-model';
import { createPredictService } from '../../lib/predict/service';
import type { NamingOptions } from '../../lib/prompts/naming';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { TAG_KEYS } from '../../lib/registry/tag-keys';
import { deadlineIn } from '../../lib/runtime/deadline';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { createTracer } from '../../lib/tracing/recorder';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../../local/model-standin';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { capture } from '../support/capture';
import { type Oracle, startOracle } from '../support/oracle';
import { testPredictSettings } from '../support/predict-settings';

const uri = inject('mlflowUri');
let registry: RegistryClient;
let standin: ModelStandin;
let oracle: Oracle;
let naming: NamingOptions;
let names: Map<string, string>;
let orchestrator: string;

const SETTINGS = testPredictSettings({ loadBudgetMs: 3_000, traceBudgetMs: 5_000, maxTokens: 64 });

const EXPERIMENT: ExperimentDefinition = {
  id: 'orchestrator-brevity',
  revision: 2,
  control: 'production',
  variants: [{ alias: 'candidate', weight_bp: 5_000 }],
  key: 'user',
  status: 'running',
  started_at: '2026-01-01T00:00:00.000Z',
};

const question = (userId: string): AgentInput => ({
  query: 'Why did our DBU spend rise?',
  history: [],
  conversationId: `conv-${userId}`,
  userId,
  data: { cost: { dbus: 10 } },
  domains: ['cost'],
});

beforeAll(async () => {
  registry = createRegistryClient({ trackingUri: uri });
  naming = uniqueNaming('experiment');
  names = await registerAgentPrompts(registry, naming);
  orchestrator = names.get('orchestrator') as string;
  const v1 = await registry.getPromptVersion(orchestrator, 1);
  await registry.registerPrompt({ name: orchestrator, template: `${v1.template as string}\nBe brief.` });
  await registry.setAlias(orchestrator, 'candidate', 2);
  await registry.setPromptTag(orchestrator, TAG_KEYS.oss.experiment, experimentTagValue(EXPERIMENT));
  standin = await startModelStandin();
  oracle = startOracle(uri);
});
afterAll(async () => {
  await Promise.all([standin?.stop(), oracle?.close()]);
});

function service(client = createRegistryClient({ trackingUri: uri }), settings = SETTINGS) {
  return {
    client,
    predict: createPredictService({
      settings,
      naming,
      registry: { withRegistry: (work) => work(client) },
      model: async () => createChatModel({ baseUrl: standin.url, name: STANDIN_MODEL }),
      snapshot: () => undefined,
      tracer: createTracer({ content: DEFAULT_CONTENT_POLICY }),
    }),
  };
}

const run = async (svc: ReturnType<typeof service>, userId: string) => {
  const captured = capture('predict');
  const answer = await svc.predict.predict(question(userId), {
    log: captured.log,
    metrics: captured.metrics,
    deadline: deadlineIn(20_000),
  });
  captured.metrics.flush();
  return { answer, captured };
};

describe('an experiment in predict', () => {
  it('keeps each user in one arm, serves both arms, and puts the arm on the trace', async () => {
    const svc = service();
    const arms = new Map<string, number>();
    for (let i = 0; i < 24; i += 1) {
      const user = `user-${i}`;
      const first = await run(svc, user);
      const again = await run(svc, user);
      const served = first.answer.prompts.find((p) => p.name === orchestrator);
      expect(again.answer.prompts.find((p) => p.name === orchestrator)).toMatchObject({
        version: served?.version,
        alias: served?.alias,
      });
      arms.set(String(served?.alias), (arms.get(String(served?.alias)) ?? 0) + 1);
    }
    expect([...arms.keys()].sort()).toEqual(['candidate', 'production']);

    // One arm by a tag filter, in MLflow's own SDK; the variant's version by its prompt link.
    const { answer } = await run(svc, 'user-0');
    const arm = answer.prompts.find((p) => p.name === orchestrator)?.alias as string;
    const inArm = await oracle.call<string[]>('traces_with_tag', {
      key: ARM_TAGS.arm('orchestrator'),
      value: arm,
    });
    expect(inArm).toContain(answer.traceId);
    const trace = await oracle.call<{ tags: Record<string, string> }>('get_trace', {
      trace_id: answer.traceId,
    });
    expect(trace.tags).toMatchObject({
      [ARM_TAGS.experiment('orchestrator')]: 'orchestrator-brevity#2',
      [ARM_TAGS.arm('orchestrator')]: arm,
    });
    const version = arm === 'candidate' ? 2 : 1;
    expect(await oracle.call('traces_for_prompt', { name: orchestrator, version })).toContain(answer.traceId);
  });

  it('loads the variant in the same batches as the prompts, once the experiment is known', async () => {
    // Every invocation refreshes alongside (TTL 0): a refresh with the variant vs the cold load before it.
    const svc = service(createRegistryClient({ trackingUri: uri }), { ...SETTINGS, ttlMs: 0 });
    await run(svc, 'warm-up');
    const before = svc.client.requestCount;
    const coldBatches = svc.predict.loader.fetchCount;
    await run(svc, 'user-1');
    await run(svc, 'user-2');
    // Each refresh is one batch whatever the variants: no batch of its own for the experiment.
    expect(svc.predict.loader.fetchCount - coldBatches).toBe(2);
    expect(svc.client.requestCount - before).toBeGreaterThan(0);
  });

  it('lists the prompt on the experiment once, whichever arm serves it', async () => {
    const client = createRegistryClient({ trackingUri: uri });
    let experimentTagWrites = 0;
    const counting = new Proxy(client, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== 'setPromptTag') return value;
        return (name: string, tag: string, tagValue: string) => {
          if (tag === '_mlflow_experiment_ids') experimentTagWrites += 1;
          return client.setPromptTag(name, tag, tagValue);
        };
      },
    });
    // An MLflow experiment of its own, so that every prompt is listed by this test.
    const svc = service(counting, { ...SETTINGS, experiment: { name: `${naming.prefix}listing` } });
    for (let i = 0; i < 12; i += 1) await run(svc, `lister-${i}`);
    // The agent's eight prompts once each, however many requests the variant served.
    expect(experimentTagWrites).toBe(8);
  });

  it('serves control, flagged and counted, to users of a variant that cannot be loaded', async () => {
    const svc = service();
    await registry.deleteAlias(orchestrator, 'candidate');
    try {
      let flagged = 0;
      for (let i = 0; i < 24; i += 1) {
        const { answer, captured } = await run(svc, `user-${i}`);
        expect(answer.prompts.find((p) => p.name === orchestrator)).toMatchObject({
          alias: 'production',
          version: 1,
        });
        const metric = captured.lines.find((l) => 'ExperimentVariantFallback' in l);
        if (metric) flagged += 1;
      }
      expect(flagged).toBeGreaterThan(0);
      expect(flagged).toBeLessThan(24);
    } finally {
      await registry.setAlias(orchestrator, 'candidate', 2);
    }
  });
});
