/**
 * Experiments end to end against the real MLflow server: hundreds of predicts through both arms
 * with the model stand-in, whose variant (its orchestrator prompt says "Be brief.") is slower and
 * fails more often by construction; feedback on the answers; then the report, from the traces
 * and assessments MLflow holds, must find the constructed differences, and must call none on an
 * A/A split. Then guarded rollouts: one advances on healthy data and promotes its variant as the
 * rollout's principal, one halts on a broken variant, each step in the experiment's history.
 *
 * Deterministic: users and questions are numbered, the assignment hashes them, the stand-in's
 * failures and reported processing times are functions of the request (latency is what it
 * reports, `--latency model`, never wall time), and the bootstrap is seeded. The report's
 * family-wise error rate is 0.05 (Holm) over its comparisons, the minimum sample 60 per arm.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRolloutHandler } from '../../functions/rollout/core';
import type { AgentInput } from '../../lib/agent/chat-agent';
import { describeHistory } from '../../lib/cli/experiment-text';
import { parseRolloutEnv } from '../../lib/config/rollout-env';
import {
  EXPERIMENT_TAG,
  type ExperimentDefinition,
  experimentOf,
  experimentTagValue,
} from '../../lib/experiments/definition';
import { parseGuards } from '../../lib/experiments/guards';
import { parseExperimentHistory } from '../../lib/experiments/history';
import { stopExperiment } from '../../lib/experiments/manage';
import type { ExperimentReport } from '../../lib/experiments/report';
import { runRollouts } from '../../lib/experiments/run-rollouts';
import { ARM_TAGS } from '../../lib/experiments/serve';
import { createChatModel } from '../../lib/model/chat-model';
import { createPredictService } from '../../lib/predict/service';
import { createDynamoAliasLock } from '../../lib/promote/alias-lock';
import { historyTag, parseHistory } from '../../lib/promote/history';
import type { MoveContext } from '../../lib/promote/service';
import type { NamingOptions } from '../../lib/prompts/naming';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { TAG_KEYS } from '../../lib/registry/tag-keys';
import { deadlineIn } from '../../lib/runtime/deadline';
import { createRuntime } from '../../lib/runtime/invocation';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { createTracer } from '../../lib/tracing/recorder';
import { createLockTable } from '../../local/lock-table';
import {
  type ModelStandin,
  reportedProcessingMs,
  STANDIN_MODEL,
  startModelStandin,
} from '../../local/model-standin';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { capture } from '../support/capture';
import { runCli } from '../support/cli';
import { type Oracle, startOracle } from '../support/oracle';
import { testPredictSettings } from '../support/predict-settings';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const uri = inject('mlflowUri');
const motoUri = inject('motoUri');
const MARKER = 'Be brief.';
const RELEASE = 'arn:aws:sts::123456789012:assumed-role/release-managers/*';
const ROLLOUT_PRINCIPAL = 'arn:aws:sts::123456789012:assumed-role/promptops-rollout/promptops-ci-rollout';
const QUESTIONS = [
  'Why did our DBU spend rise?',
  'Which workspace costs the most this month?',
  'Is our serverless budget on track?',
  'What drove the jump in job compute cost last week, and who owns it?',
  'How expensive were the photon warehouses?',
];
const SETTINGS = testPredictSettings({ loadBudgetMs: 3_000, traceBudgetMs: 8_000, maxTokens: 64 });

let registry: RegistryClient;
let standin: ModelStandin;
let oracle: Oracle;
let dynamodb: DynamoDBClient;
const table = `locks-${randomUUID().slice(0, 8)}`;

/**
 * The variant by construction: a request whose prompts carry the marker reports 60 % more
 * processing time, and one question in five (by its number) fails with a 400 (not retried).
 */
function variantBehaviour(body: Record<string, unknown>) {
  const text = JSON.stringify(body.messages ?? []);
  if (!text.includes(MARKER)) return undefined;
  const n = Number(/question (\d+)/.exec(text)?.[1] ?? 0);
  if (n % 5 === 0)
    return { fault: { status: 400, body: '{"error":{"message":"[stand-in model] refused"}}' } };
  return { processingMs: Math.round(reportedProcessingMs(body) * 1.6) };
}

interface Agent {
  readonly naming: NamingOptions;
  readonly orchestrator: string;
  /** The MLflow experiment of its own its traces go to: ids and users repeat from run to run. */
  readonly traces: string;
}

/** The agent's prompts under a naming of their own; orchestrator v2 (`candidate`) has the marker, v3 (`twin`) is v1 again. */
async function agent(label: string): Promise<Agent> {
  const naming = uniqueNaming(label);
  const orchestrator = (await registerAgentPrompts(registry, naming)).get('orchestrator') as string;
  const v1 = (await registry.getPromptVersion(orchestrator, 1)).template as string;
  await registry.registerPrompt({ name: orchestrator, template: `${v1}\n${MARKER}` });
  await registry.registerPrompt({ name: orchestrator, template: v1 });
  await registry.setAlias(orchestrator, 'candidate', 2);
  await registry.setAlias(orchestrator, 'twin', 3);
  return { naming, orchestrator, traces: `traffic-${naming.prefix}` };
}

const tracesId = async (a: Agent) => (await registry.getExperimentIdByName(a.traces)) as string;

async function setExperiment(a: Agent, definition: ExperimentDefinition): Promise<void> {
  await registry.setPromptTag(a.orchestrator, EXPERIMENT_TAG, experimentTagValue(definition));
}

function predictor(a: Agent) {
  // A fresh loader per phase: it reads the experiment as it stands now.
  return createPredictService({
    settings: { ...SETTINGS, experiment: { name: a.traces } },
    naming: a.naming,
    registry: { withRegistry: (work) => work(registry) },
    model: async () => createChatModel({ baseUrl: standin.url, name: STANDIN_MODEL }),
    snapshot: () => undefined,
    tracer: createTracer({ content: DEFAULT_CONTENT_POLICY }),
  });
}

interface Traffic {
  readonly answered: number;
  readonly failed: number;
  readonly byArm: Map<string, number>;
}

/**
 * `n` requests from numbered users, 8 at a time; each answer is judged (feedback) as `positive`
 * says for its arm and number.
 */
async function traffic(
  a: Agent,
  label: string,
  n: number,
  positive?: (arm: string, i: number) => boolean,
): Promise<Traffic> {
  const service = predictor(a);
  const byArm = new Map<string, number>();
  let answered = 0;
  let failed = 0;
  const one = async (i: number) => {
    const question = QUESTIONS[i % QUESTIONS.length] as string;
    const input: AgentInput = {
      query: `${question} (question ${i})`,
      history: [],
      conversationId: `${label}-conversation-${i}`,
      userId: `${label}-user-${i}`,
      data: { cost: { dbus: 10 + (i % 7) } },
      domains: ['cost'],
    };
    const captured = capture('predict');
    try {
      const answer = await service.predict(input, {
        log: captured.log,
        metrics: captured.metrics,
        deadline: deadlineIn(20_000),
      });
      answered += 1;
      const arm = answer.prompts.find((p) => p.name === a.orchestrator)?.alias as string;
      byArm.set(arm, (byArm.get(arm) ?? 0) + 1);
      if (positive)
        await registry.logFeedback(answer.traceId, {
          value: positive(arm, i),
          sourceId: `${label}-user-${i}`,
        });
    } catch {
      failed += 1;
    }
  };
  for (let start = 0; start < n; start += 8) {
    await Promise.all(Array.from({ length: Math.min(8, n - start) }, (_, k) => one(start + k)));
  }
  return { answered, failed, byArm };
}

async function report(a: Agent, ...extra: string[]) {
  const env = {
    MLFLOW_TRACKING_URI: uri,
    PROMPT_NAME_PREFIX: a.naming.prefix,
    MLFLOW_EXPERIMENT_NAME: a.traces,
  };
  const text = await runCli(
    ['experiment', 'report', 'orchestrator', '--latency', 'model', '--min-samples', '60', ...extra],
    env,
  );
  const json = await runCli(
    ['experiment', 'report', 'orchestrator', '--latency', 'model', '--min-samples', '60', '--json', ...extra],
    env,
  );
  expect(text.stderr).toBe('');
  expect(json.code).toBe(0);
  return { text: text.stdout, json: JSON.parse(json.stdout) as ExperimentReport & { traces: number } };
}

const verdicts = (r: ExperimentReport) => Object.fromEntries(r.comparisons.map((c) => [c.metric, c.verdict]));

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  registry = createRegistryClient({ trackingUri: uri });
  standin = await startModelStandin();
  standin.behaviour = variantBehaviour;
  oracle = startOracle(uri);
  dynamodb = new DynamoDBClient({});
  await createLockTable(dynamodb, table);
});
afterAll(async () => {
  await Promise.all([standin?.stop(), oracle?.close()]);
});

const experiment = (
  id: string,
  variant: string,
  over: Partial<ExperimentDefinition> = {},
): ExperimentDefinition => ({
  id,
  revision: 1,
  control: 'production',
  variants: [{ alias: variant, weight_bp: 5_000 }],
  key: 'user',
  status: 'running',
  started_at: '2026-01-01T00:00:00.000Z',
  ...over,
});

describe('the report on real traffic', () => {
  it('finds the slower, failing variant worse, with the feedback MLflow holds', async () => {
    const a = await agent('exp-ab');
    const id = 'brevity-ab';
    await setExperiment(a, experiment(id, 'candidate'));
    // People like control's answers more: 7 in 10 up, against 4 in 10.
    const sent = await traffic(a, id, 300, (arm, i) => i % 10 < (arm === 'production' ? 7 : 4));
    expect(sent.failed).toBeGreaterThan(20);
    const { text, json } = await report(a);
    console.log(`promptops experiment report orchestrator --latency model --min-samples 60\n${text}`);
    expect(json.traces).toBe(300);
    const [control, variant] = json.arms;
    expect(control).toMatchObject({ alias: 'production', errorRate: 0 });
    expect(variant?.alias).toBe('candidate');
    expect((control?.requests ?? 0) + (variant?.requests ?? 0)).toBe(300);
    expect(variant?.errorRate).toBeCloseTo(sent.failed / (variant?.requests ?? 1), 10);
    expect(verdicts(json)).toMatchObject({
      error_rate: 'worse',
      p50_latency: 'worse',
      p95_latency: 'worse',
      feedback: 'worse',
      fallback_rate: 'no difference yet',
    });
    const p50 = json.comparisons.find((c) => c.metric === 'p50_latency');
    expect(p50?.relative).toBeGreaterThan(0.45);
    expect(p50?.relative).toBeLessThan(0.75);

    // MLflow's own SDK counts the same arms, errors and up-votes from the same traces.
    const sdk = await oracle.call<
      Record<string, { traces: number; errors: number; up: number; judged: number }>
    >('arm_summary', {
      experiment_id: await tracesId(a),
      experiment_key: ARM_TAGS.experiment('orchestrator'),
      experiment_value: `${id}#1`,
      arm_key: ARM_TAGS.arm('orchestrator'),
    });
    for (const arm of json.arms) {
      expect(sdk[arm.alias]?.traces, arm.alias).toBe(arm.requests);
      expect(sdk[arm.alias]?.errors, arm.alias).toBe(Math.round((arm.errorRate ?? 0) * arm.requests));
      expect(sdk[arm.alias]?.judged, arm.alias).toBe(arm.feedback);
      expect(sdk[arm.alias]?.up, arm.alias).toBe(Math.round((arm.positiveRate ?? 0) * arm.feedback));
    }
  });

  it('calls no difference on an A/A split (the twin is control again)', async () => {
    const a = await agent('exp-aa');
    const id = 'brevity-aa';
    await setExperiment(a, experiment(id, 'twin'));
    const sent = await traffic(a, id, 300, (_arm, i) => i % 10 < 7);
    expect(sent.failed).toBe(0);
    const { text, json } = await report(a);
    console.log(`A/A: promptops experiment report orchestrator --latency model --min-samples 60\n${text}`);
    expect(json.arms.every((arm) => arm.requests >= 100)).toBe(true);
    expect(Object.values(verdicts(json))).toEqual(Array(6).fill('no difference yet'));
  });
});

describe('a guarded rollout', () => {
  const lock = () => createDynamoAliasLock({ client: dynamodb, table, waitMs: 15_000 });
  const context = (a: Agent, principals: string[]): MoveContext => ({
    registry,
    lock: lock(),
    naming: a.naming,
    policy: { protectedAliases: ['production'], allowedPrincipals: principals },
    principal: ROLLOUT_PRINCIPAL,
    now: () => new Date(),
  });
  const options = async (a: Agent) => ({
    experimentId: await tracesId(a),
    latency: 'model' as const,
    report: { minSamples: 20, alpha: 0.05, seed: 1, rounds: 2_000 },
  });
  /**
   * A rollout at 40 %, 70 %, then the promotion. Its guardrails must hold with confidence
   * (non-inferiority): a window of 90 requests proves an error rate within +15 points of control's,
   * not within +2 (that takes a few hundred requests per arm); +2 is what a broken variant breaks.
   */
  const rolloutOf = (
    id: string,
    variant: string,
    guards = 'error_rate<=+15pp,p95_latency<=+25%',
  ): ExperimentDefinition =>
    experiment(id, variant, {
      // By user (numbered): the same arms every run.
      variants: [{ alias: variant, weight_bp: 4_000, version: variant === 'twin' ? 3 : 2 }],
      guardrails: parseGuards(guards),
      rollout: { steps: [40, 70, 100], step: 0 },
    });
  const historyOf = async (a: Agent) =>
    parseExperimentHistory((await registry.getPrompt(a.orchestrator)).tags[TAG_KEYS.oss.experimentHistory]);

  it('advances on healthy data, never twice for one window, and promotes the variant as its own principal', async () => {
    const a = await agent('rollout-ok');
    const id = 'rollout-healthy';
    await setExperiment(a, rolloutOf(id, 'twin'));
    const ctx = context(a, [RELEASE, 'arn:aws:sts::123456789012:assumed-role/promptops-rollout/*']);

    await traffic(a, `${id}-w1`, 90);
    const [advanced] = await runRollouts(ctx, await options(a));
    expect(advanced).toMatchObject({ action: 'advance', revision: 1, newRevision: 2 });
    // Run again at once (a retry, a second schedule): the new window has no traffic yet.
    const [again] = await runRollouts(ctx, await options(a));
    expect(again).toMatchObject({ action: 'hold', revision: 2 });
    expect(experimentOf(await registry.getPrompt(a.orchestrator)).experiment).toMatchObject({
      revision: 2,
      variants: [{ alias: 'twin', weight_bp: 7_000 }],
      rollout: { step: 1 },
    });

    await traffic(a, `${id}-w2`, 90);
    const [completed] = await runRollouts(ctx, await options(a));
    expect(completed).toMatchObject({ action: 'complete', revision: 2, newRevision: 3 });
    const prompt = await registry.getPrompt(a.orchestrator);
    expect(prompt.aliases.production).toBe(3);
    expect(experimentOf(prompt).experiment).toMatchObject({ status: 'completed', revision: 3 });
    // The promotion is audited as any move, by the rollout's principal.
    expect(parseHistory(prompt.tags[historyTag('production')]).entries.at(-1)).toMatchObject({
      action: 'promote',
      version: 3,
      previousVersion: 1,
      by: ROLLOUT_PRINCIPAL,
    });
    const history = await historyOf(a);
    expect(history.map((h) => `${h.action}#${h.revision}`)).toEqual(['advance#2', 'complete#3']);
    console.log(
      `promptops experiment show orchestrator (history, newest first):\n${describeHistory([...history].reverse())}`,
    );
    // Completed: nothing left to roll.
    expect(await runRollouts(ctx, await options(a))).toEqual([]);
  });

  it('halts a broken variant (the function: its alarm metric and audit line), its share back to 0, the reason recorded', async () => {
    const a = await agent('rollout-broken');
    const id = 'rollout-broken';
    await setExperiment(a, rolloutOf(id, 'candidate', 'error_rate<=+2pp,p95_latency<=+25%'));
    await traffic(a, id, 90);
    const logs: string[] = [];
    const env = parseRolloutEnv({
      PROMPTOPS_SECRET_ID: await makeSecret(new SecretsManagerClient({}), {
        registry: { type: 'mlflow', trackingUri: uri },
      }),
      PROMPT_NAME_PREFIX: a.naming.prefix,
      PROMOTE_LOCK_TABLE: table,
      PROTECTED_ALIAS_PRINCIPALS: `${RELEASE},arn:aws:sts::123456789012:assumed-role/promptops-rollout/*`,
      ROLLOUT_ROLE_NAME: 'promptops-rollout',
      ROLLOUT_MIN_SAMPLES: '20',
      ROLLOUT_LATENCY: 'model',
      MLFLOW_EXPERIMENT_NAME: a.traces,
    });
    const handler = createRolloutHandler({
      env,
      runtime: createRuntime(env, { functionName: 'rollout', write: (line) => logs.push(line) }),
      dynamodb,
    });
    const { outcomes } = await handler({}, {
      functionName: 'promptops-ci-rollout',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:promptops-ci-rollout',
      awsRequestId: randomUUID(),
      getRemainingTimeInMillis: () => 280_000,
    } as unknown as Context);
    const [halted] = outcomes;
    expect(halted).toMatchObject({ action: 'halt', newRevision: 2 });
    expect(halted?.reason).toContain('error_rate<=+2pp');
    expect(halted?.by).toBe(ROLLOUT_PRINCIPAL);
    const lines = logs.map((line) => JSON.parse(line));
    expect(lines.find((l) => l.message === 'rollout halt')).toMatchObject({
      audit: true,
      level: 'ERROR',
      by: ROLLOUT_PRINCIPAL,
      prompt: 'orchestrator',
      experiment: id,
    });
    expect(logs.some((l) => l.includes('"RolloutHalted"'))).toBe(true);
    const prompt = await registry.getPrompt(a.orchestrator);
    expect(experimentOf(prompt).experiment).toMatchObject({
      status: 'halted',
      variants: [{ alias: 'candidate', weight_bp: 0 }],
    });
    expect(prompt.aliases.production).toBe(1);
    const [entry] = await historyOf(a);
    expect(entry).toMatchObject({ action: 'halt', by: ROLLOUT_PRINCIPAL, weights: { candidate: 0 } });
    expect(entry?.reason).toContain('guardrail broken');
  });

  it("loses to a person's stop made after it read the window: nothing promoted, a conflict", async () => {
    const a = await agent('rollout-raced');
    const id = 'rollout-raced';
    await setExperiment(a, {
      ...rolloutOf(id, 'twin'),
      variants: [{ alias: 'twin', weight_bp: 7_000, version: 3 }],
      rollout: { steps: [40, 70, 100], step: 1 },
    });
    await traffic(a, id, 90);
    const ctx = context(a, [RELEASE, 'arn:aws:sts::123456789012:assumed-role/promptops-rollout/*']);
    let searches = 0;
    // The person stops the experiment while the rollout reads its last page of traces.
    const racing = new Proxy(registry, {
      get(target, key, receiver) {
        if (key !== 'searchTraces') return Reflect.get(target, key, receiver);
        return async (query: Parameters<RegistryClient['searchTraces']>[0]) => {
          const page = await target.searchTraces(query);
          searches += 1;
          if (searches === 2) {
            await stopExperiment({ ...ctx, principal: RELEASE.replace('*', 'alice') }, 'orchestrator', {
              reason: 'on call',
            });
          }
          return page;
        };
      },
    });
    const [raced] = await runRollouts({ ...ctx, registry: racing }, await options(a));
    expect(raced).toMatchObject({ action: 'conflict' });
    const prompt = await registry.getPrompt(a.orchestrator);
    expect(prompt.aliases.production).toBe(1);
    expect(experimentOf(prompt).experiment).toMatchObject({ status: 'halted', revision: 2 });
    expect((await historyOf(a)).map((h) => h.action)).toEqual(['stop']);
  });

  it('may not promote when the protected-alias rules do not name its principal', async () => {
    const a = await agent('rollout-refused');
    const id = 'rollout-refused';
    // At the step before 100 %: the next healthy window is the promotion.
    await setExperiment(a, {
      ...rolloutOf(id, 'twin'),
      variants: [{ alias: 'twin', weight_bp: 7_000, version: 3 }],
      rollout: { steps: [40, 70, 100], step: 1 },
    });
    await traffic(a, id, 90);
    const [refused] = await runRollouts(context(a, [RELEASE]), await options(a));
    expect(refused).toMatchObject({ action: 'failed', error: { code: 'FORBIDDEN' } });
    const prompt = await registry.getPrompt(a.orchestrator);
    expect(prompt.aliases.production).toBe(1);
    expect(experimentOf(prompt).experiment).toMatchObject({ status: 'running', revision: 1 });
    // A person promotes the version judged: the next run completes without a move.
    await registry.setAlias(a.orchestrator, 'production', 3);
    const [completed] = await runRollouts(context(a, [RELEASE]), await options(a));
    expect(completed).toMatchObject({ action: 'complete', newRevision: 2 });
    expect(completed?.reason).toContain('completed without a move');
    expect(experimentOf(await registry.getPrompt(a.orchestrator)).experiment).toMatchObject({
      status: 'completed',
    });
  });

  it('halts instead of promoting when the variant alias no longer serves the version it judged', async () => {
    const a = await agent('rollout-moved');
    const id = 'rollout-moved';
    await setExperiment(a, {
      ...rolloutOf(id, 'twin'),
      variants: [{ alias: 'twin', weight_bp: 7_000, version: 3 }],
      rollout: { steps: [40, 70, 100], step: 1 },
    });
    await traffic(a, id, 90);
    // Repointed behind the experiment's back (outside the API, which would refuse it).
    await registry.setAlias(a.orchestrator, 'twin', 2);
    const ctx = context(a, [RELEASE, 'arn:aws:sts::123456789012:assumed-role/promptops-rollout/*']);
    const [halted] = await runRollouts(ctx, await options(a));
    expect(halted).toMatchObject({ action: 'halt' });
    expect(halted?.reason).toContain('serves version 2, not the version 3 this rollout judged');
    const prompt = await registry.getPrompt(a.orchestrator);
    expect(prompt.aliases.production).toBe(1);
    expect(experimentOf(prompt).experiment).toMatchObject({ status: 'halted' });
  });
});
