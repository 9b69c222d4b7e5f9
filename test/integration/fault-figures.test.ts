/**
 * Faults, as figures: the predict and verify functions, built as in Lambda, against the real
 * MLflow server behind a proxy that injects seeded random faults into 30 % of the registry's
 * requests (503, 429 with Retry-After, a reset before the server sees the request, the answer lost
 * after the server acted, a slow answer). What each function promises under them is asserted,
 * and the figures are printed:
 *
 * - predict: every request answered, each prompt's source said (in the answer, its metric and the
 *   trace's tag), every trace's export counted once, as exported or failed, in its own
 *   invocation, and a failed export never fails the request;
 * - verify: a healthy registry never reported unhealthy prompt by prompt; a run the retries
 *   cannot save reports the registry, once.
 *
 * Only invariants are asserted: nothing depends on which request meets which fault, nor on how
 * fast anything is. The seed fixes the faults each path meets in turn; the figures predict prints
 * still vary from run to run, with the order concurrent requests arrive in and with what the
 * deadlines leave on a loaded machine (ten environments start at once against one SQLite-backed
 * server: a few cold-start traces and links run out of their budget even with no fault at all).
 */
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assemblePredict } from '../../functions/predict/assemble';
import { ROUTE } from '../../functions/predict/core';
import { createVerifyHandler } from '../../functions/verify/core';
import { parsePredictEnv } from '../../lib/config/predict-env';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { PREDICT_METRICS } from '../../lib/observability/metric-names';
import { PROMPT_SOURCES, type PromptSource } from '../../lib/prompt-loader/loader';
import { type PromptSnapshot, snapshotFromRegistry } from '../../lib/prompt-loader/snapshot';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import type { TraceSummary } from '../../lib/registry/tracking';
import { createRuntime } from '../../lib/runtime/invocation';
import type { Check } from '../../lib/verify/checks';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../../local/model-standin';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { FAULT_KINDS, type FaultCounts, type FaultyProxy, startFaultyProxy } from '../support/faulty-proxy';
import { httpApiEvent } from '../support/http-api-event';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');

const RATE = 0.3;
const SEED = 0x5eed_2026;
const API_KEY = `sk-${randomUUID()}`;
const CALLER = 'arn:aws:sts::123456789012:assumed-role/agent-users/carol';

let secretsManager: SecretsManagerClient;
let direct: RegistryClient;
let proxy: FaultyProxy;
let standin: ModelStandin;

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  secretsManager = new SecretsManagerClient({});
  direct = createRegistryClient({ trackingUri: mlflowUri });
  [proxy, standin] = await Promise.all([startFaultyProxy(mlflowUri), startModelStandin({ apiKey: API_KEY })]);
});

afterAll(async () => {
  await Promise.all([proxy?.close(), standin?.stop()]);
});

const percent = `${Math.round(RATE * 100)}%`;

function faultFigures(counts: FaultCounts): string {
  return FAULT_KINDS.map((kind) => `${kind} ${counts[kind]}`).join(', ');
}

type Line = Record<string, unknown>;

/** The metric values of EMF lines, summed by name. */
function metricTotals(lines: readonly Line[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const line of lines) {
    const aws = line._aws as { CloudWatchMetrics?: { Metrics: { Name: string }[] }[] } | undefined;
    for (const m of aws?.CloudWatchMetrics?.[0]?.Metrics ?? []) {
      totals[m.Name] = (totals[m.Name] ?? 0) + Number(line[m.Name]);
    }
  }
  return totals;
}

const SOURCE_METRIC: Readonly<Record<PromptSource, string>> = {
  registry: PREDICT_METRICS.registry,
  cache: PREDICT_METRICS.cache,
  stale: PREDICT_METRICS.stale,
  fallback: PREDICT_METRICS.fallback,
};

describe(`predict under ${percent} registry faults`, () => {
  const INSTANCES = 10;
  const REQUESTS_EACH = 10;

  const REQUEST = {
    messages: [{ role: 'user', content: 'Why did our DBU spend rise, and did any jobs fail?' }],
    context: { conversation_id: 'conv-faults', user_id: 'carol' },
    custom_inputs: {
      data: { cost: { dbus_this_week: 1200 }, reliability: { failed_jobs: ['etl_daily'] } },
    },
  };

  interface Answered {
    readonly status: number;
    readonly body: {
      messages?: { content: string }[];
      custom_outputs?: {
        traceId: string;
        prompts: { name: string; version: number | null; source: string }[];
      };
    };
    /** The invocation's own log and metric lines. */
    readonly lines: Line[];
  }

  it('answers 100 of 100 requests, flags every prompt source, counts every trace export', async () => {
    const naming = uniqueNaming('faults-predict');
    const names = await registerAgentPrompts(direct, naming);
    const experimentName = `it-faults-${naming.prefix}`;
    const secretId = await makeSecret(secretsManager, {
      registry: { type: 'mlflow', trackingUri: proxy.url },
      model: { baseUrl: standin.url, name: STANDIN_MODEL, apiKey: API_KEY },
    });
    // The bundled fallback, taken as packaging takes it: from the stage's registry, before the faults.
    const snapshot: PromptSnapshot = await snapshotFromRegistry(
      createRegistryClient({ trackingUri: proxy.url }),
      [...names].map(([key, name]) => ({ key, target: { name, alias: 'production' } })),
    );
    const env = parsePredictEnv({
      PROMPTOPS_SECRET_ID: secretId,
      PROMPT_NAME_PREFIX: naming.prefix,
      MLFLOW_EXPERIMENT_NAME: experimentName,
      // Every warm request refreshes its prompts alongside: the registry is read on each one.
      PREDICT_PROMPT_TTL_MS: '0',
    });

    /** One execution environment: a cold start, then requests one after another. */
    async function instance(): Promise<Answered[]> {
      const lines: Line[] = [];
      const runtime = createRuntime(env, {
        functionName: 'predict',
        secretsManager,
        write: (line) => lines.push(JSON.parse(line) as Line),
      });
      const handler = assemblePredict(env, runtime, { snapshot: () => snapshot });
      const answered: Answered[] = [];
      for (let i = 0; i < REQUESTS_EACH; i++) {
        const from = lines.length;
        const response = (await handler(
          httpApiEvent({ routeKey: ROUTE, rawPath: '/predict', principal: CALLER, body: REQUEST }),
          { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 29_000 },
        )) as APIGatewayProxyStructuredResultV2;
        answered.push({
          status: response.statusCode ?? 0,
          body: JSON.parse(response.body ?? 'null'),
          lines: lines.slice(from),
        });
      }
      return answered;
    }

    proxy.injectFaults({ rate: RATE, seed: SEED });
    let answers: Answered[];
    try {
      // Ten environments at once, as Lambda scales out; each answers its requests in turn.
      answers = (await Promise.all(Array.from({ length: INSTANCES }, instance))).flat();
    } finally {
      proxy.stopFaults();
    }
    const injected = proxy.injected;
    const considered = proxy.considered;

    // Every request answered.
    const total = INSTANCES * REQUESTS_EACH;
    const ok = answers.filter((a) => a.status === 200);
    const failures = answers
      .filter((a) => a.status !== 200)
      .map((a) => ({ status: a.status, body: a.body, error: a.lines.find((l) => l.level === 'ERROR') }));
    expect(failures).toEqual([]);
    expect(ok).toHaveLength(total);

    // Each prompt's source, in the answer and counted under its metric, a log line for each one not fresh.
    const sources: Record<PromptSource, number> = { registry: 0, cache: 0, stale: 0, fallback: 0 };
    for (const answer of ok) {
      expect(answer.body.messages?.[0]?.content).toContain('[stand-in model]');
      const prompts = answer.body.custom_outputs?.prompts ?? [];
      expect(prompts.map((p) => p.name).sort()).toEqual([...names.values()].sort());
      const here: Record<PromptSource, number> = { registry: 0, cache: 0, stale: 0, fallback: 0 };
      for (const prompt of prompts) {
        expect(PROMPT_SOURCES).toContain(prompt.source);
        // The fallback was read from this registry: its versions are claimed too.
        expect(prompt.version).toBe(1);
        here[prompt.source as PromptSource] += 1;
        sources[prompt.source as PromptSource] += 1;
      }
      const totals = metricTotals(answer.lines);
      for (const source of PROMPT_SOURCES) expect(totals[SOURCE_METRIC[source]] ?? 0).toBe(here[source]);
      const flagged = answer.lines.filter(
        (l) => l.message === 'prompt served stale' || l.message === 'prompt served from the bundled fallback',
      );
      expect(flagged).toHaveLength(here.stale + here.fallback);
    }

    // Every trace counted once, as exported or failed; every one MLflow lacks was counted failed,
    // and every one it has says the worst source its prompts came from.
    const experimentId = await direct.getExperimentIdByName(experimentName);
    expect(experimentId).toBeDefined();
    const stored = new Map<string, TraceSummary>();
    let pageToken: string | undefined;
    do {
      const page = await direct.searchTraces({
        experimentId: experimentId as string,
        maxResults: 500,
        pageToken,
      });
      for (const t of page.traces) stored.set(t.traceId, t);
      pageToken = page.nextPageToken;
    } while (pageToken);
    const trace = {
      counted: 0,
      exported: 0,
      missing: 0,
      storedThoughCounted: 0,
      linkFailed: 0,
      listingFailed: 0,
    };
    for (const answer of ok) {
      const totals = metricTotals(answer.lines);
      const failedHere = totals[PREDICT_METRICS.traceFailed] ?? 0;
      const exportedHere = totals[PREDICT_METRICS.traceExported] ?? 0;
      expect(failedHere + exportedHere).toBe(1);
      trace.counted += failedHere;
      trace.exported += exportedHere;
      trace.linkFailed += totals[PREDICT_METRICS.linkFailed] ?? 0;
      trace.listingFailed += totals[PREDICT_METRICS.experimentLinkFailed] ?? 0;
      const traceId = answer.body.custom_outputs?.traceId as string;
      const found = stored.get(traceId);
      if (found === undefined) {
        trace.missing += 1;
        expect({ traceId, failedHere }).toEqual({ traceId, failedHere: 1 });
      } else {
        if (failedHere === 1) trace.storedThoughCounted += 1;
        const ranks = (answer.body.custom_outputs?.prompts ?? []).map((p) =>
          PROMPT_SOURCES.indexOf(p.source as PromptSource),
        );
        expect(found.tags['promptops.prompt_source']).toBe(PROMPT_SOURCES[Math.max(...ranks)]);
      }
      // A failed export is logged with its cause, in its own invocation's lines, once.
      expect(answer.lines.filter((l) => l.message === 'trace not exported')).toHaveLength(failedHere);
    }

    // The faults did happen, of every kind.
    for (const kind of FAULT_KINDS) expect(injected[kind]).toBeGreaterThan(0);

    const figures = [
      `predict under ${percent} faults: ${ok.length}/${total} answered; ` +
        `prompt sources: registry ${sources.registry}, cache ${sources.cache}, stale ${sources.stale}, fallback ${sources.fallback}; ` +
        `trace exports failed ${trace.missing} (counted ${trace.counted}; ${trace.storedThoughCounted} counted failed were stored after all, their answer lost or late); ` +
        `exported ${trace.exported}; prompt links failed ${trace.linkFailed}, experiment listings failed ${trace.listingFailed}`,
      `predict faults injected in ${considered} registry requests: ${faultFigures(injected)}`,
    ];
    for (const line of figures) console.log(line);
  });
});

describe(`verify under ${percent} registry faults`, () => {
  const RUNS = 20;

  async function setUp() {
    const naming = uniqueNaming('faults-verify');
    const names = await registerAgentPrompts(direct, naming);
    const secretId = await makeSecret(secretsManager, {
      registry: { type: 'mlflow', trackingUri: proxy.url },
    });
    const env = parseVerifyEnv({
      PROMPTOPS_SECRET_ID: secretId,
      PROMPT_NAME_PREFIX: naming.prefix,
      PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
    });
    const lines: Line[] = [];
    const runtime = createRuntime(env, {
      functionName: 'verify',
      secretsManager,
      write: (line) => lines.push(JSON.parse(line) as Line),
    });
    const handler = createVerifyHandler({ env, runtime });
    /** One scheduled run: its report, its metrics (summed) and its per-prompt metric lines. */
    async function run(remainingMs?: number) {
      const from = lines.length;
      const result = await handler(
        {},
        {
          awsRequestId: randomUUID(),
          ...(remainingMs === undefined ? {} : { getRemainingTimeInMillis: () => remainingMs }),
        },
      );
      const own = lines.slice(from);
      const perPrompt = own.filter((l) => 'prompt' in l && 'alias' in l && 'VerifyFailures' in l);
      const runLine = own.find((l) => 'VerifyRuns' in l && !('prompt' in l));
      return { result, runLine, perPrompt };
    }
    return { names, run };
  }

  const isRegistryFailure = (c: Check) =>
    c.prompt === '*' && c.status === 'fail' && c.code === 'REGISTRY_UNREACHABLE';

  it('never fails a healthy prompt; a run the retries cannot save reports the registry once', async () => {
    const { names, run } = await setUp();
    const pairs = names.size * 2;
    proxy.injectFaults({ rate: RATE, seed: SEED });
    const runs: Awaited<ReturnType<typeof run>>[] = [];
    try {
      for (let i = 0; i < RUNS; i++) runs.push(await run());
    } finally {
      proxy.stopFaults();
    }
    const injected = proxy.injected;
    const considered = proxy.considered;

    let falseFailures = 0;
    let registryFailures = 0;
    for (const { result, runLine, perPrompt } of runs) {
      const unhealthy = result.checks.filter((c) => c.prompt !== '*' && c.status !== 'ok');
      falseFailures += unhealthy.filter((c) => c.status === 'fail').length;
      expect(unhealthy).toEqual([]);
      const failedHere = result.checks.filter(isRegistryFailure).length;
      registryFailures += failedHere;
      if (result.ok) {
        expect(result.checks).toHaveLength(pairs);
        expect(runLine).toMatchObject({ VerifyRuns: 1, VerifyFailures: 0 });
        expect(perPrompt).toHaveLength(pairs);
      } else {
        // The whole run's one failure: one check, one count, none per prompt.
        expect(result.checks).toEqual([
          expect.objectContaining({ prompt: '*', code: 'REGISTRY_UNREACHABLE' }),
        ]);
        expect(runLine).toMatchObject({ VerifyRuns: 1, VerifyFailures: 1 });
        expect(perPrompt.filter((l) => Number(l.VerifyFailures) > 0)).toEqual([]);
      }
    }
    for (const kind of FAULT_KINDS) expect(injected[kind]).toBeGreaterThan(0);
    console.log(
      `verify under ${percent} faults: ${RUNS} runs, false failures ${falseFailures}, ` +
        `registry failures reported ${registryFailures} (once per failed run: ${runs.filter((r) => !r.result.ok).length} failed runs)`,
    );
    console.log(`verify faults injected in ${considered} registry requests: ${faultFigures(injected)}`);
  });

  it("reports a registry too slow for the invocation's time once, before the Lambda ends", async () => {
    const { run } = await setUp();
    // Every answer would come a minute late: the run's deadline (the Lambda's end less the
    // answer margin) cuts the reads, and the run still reports, in time, what happened.
    proxy.holdAnswers(/./, 60_000);
    const started = Date.now();
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      outcome = await run(6_000);
    } finally {
      proxy.up();
    }
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(outcome.result.checks).toEqual([
      expect.objectContaining({ prompt: '*', status: 'fail', code: expect.stringMatching(/^REGISTRY_/) }),
    ]);
    expect(outcome.runLine).toMatchObject({ VerifyRuns: 1, VerifyFailures: 1 });
    console.log(
      `verify at its deadline: ${outcome.result.checks[0]?.code}: ${outcome.result.checks[0]?.message}`,
    );
  });

  it('reports a registry that is down once, and no prompt as failed', async () => {
    const { run } = await setUp();
    proxy.down();
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      outcome = await run();
    } finally {
      proxy.up();
    }
    const { result, runLine, perPrompt } = outcome;
    expect(result.checks).toEqual([expect.objectContaining({ prompt: '*', code: 'REGISTRY_UNREACHABLE' })]);
    expect(runLine).toMatchObject({ VerifyRuns: 1, VerifyFailures: 1 });
    const perPromptFailures = perPrompt.filter((l) => Number(l.VerifyFailures) > 0).length;
    expect(perPromptFailures).toBe(0);
    console.log(
      `verify with the registry down: registry failures reported ${result.checks.filter(isRegistryFailure).length}, ` +
        `per-prompt failures ${perPromptFailures}`,
    );
  });
});
