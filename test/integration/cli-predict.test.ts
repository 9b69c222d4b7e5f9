/**
 * `promptops predict` in-process (the same service as the Lambda) against the real MLflow server
 * and the model stand-in, and `promptops snapshot`, which packaging runs to take the predict
 * function's fallback.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { promptSnapshotSchema } from '../../lib/prompt-loader/snapshot';
import type { NamingOptions } from '../../lib/prompts/naming';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../../local/model-standin';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { runCli } from '../support/cli';
import { type Oracle, startOracle } from '../support/oracle';

const mlflowUri = inject('mlflowUri');
let registry: RegistryClient;
let standin: ModelStandin;
let oracle: Oracle;
let naming: NamingOptions;
let names: Map<string, string>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  registry = createRegistryClient({ trackingUri: mlflowUri });
  naming = uniqueNaming('cli-predict');
  names = await registerAgentPrompts(registry, naming);
  // staging of the orchestrator one version ahead of production.
  const orchestrator = names.get('orchestrator') as string;
  const v2 = await registry.registerPrompt({
    name: orchestrator,
    template: 'You orchestrate. Question: {{query}}. Context: {{context}}.',
  });
  await registry.setAlias(orchestrator, 'staging', v2.version);
  standin = await startModelStandin();
  oracle = startOracle(mlflowUri);
  env = {
    MLFLOW_TRACKING_URI: mlflowUri,
    PROMPT_NAME_PREFIX: naming.prefix,
    OPENAI_BASE_URL: standin.url,
    PROMPTOPS_MODEL: STANDIN_MODEL,
  };
});

afterAll(async () => {
  await Promise.all([standin?.stop(), oracle?.close()]);
});

describe('promptops predict (in-process)', () => {
  it('prints one JSON object with --json, and the trace is linked to every prompt when it exits', async () => {
    const run = await runCli(['predict', 'Why did the DBU bill go up?', '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const json = JSON.parse(run.stdout);
    expect(Object.keys(json).sort()).toEqual(['answer', 'domains', 'prompts', 'traceId']);
    expect(json.traceId).toMatch(/^tr-[0-9a-f]{32}$/);
    expect(json.domains).toEqual(['cost']);
    expect(json.prompts).toHaveLength(8);
    expect(json.prompts[0]).toEqual({
      name: names.get('orchestrator'),
      version: 1,
      alias: 'production',
      source: 'registry',
    });
    expect(await oracle.call('traces_for_prompt', { name: names.get('cost_worker'), version: 1 })).toContain(
      json.traceId,
    );
  });

  it('prints the answer for people, then the trace and each prompt in MLflow UI', async () => {
    const run = await runCli(['predict', 'Are there failed logins?'], env);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toContain('[stand-in model]');
    expect(run.stdout).toMatch(
      new RegExp(`trace: +${mlflowUri}/#/experiments/0/traces\\?selectedEvaluationId=tr-`),
    );
    expect(run.stdout).toContain(
      `${mlflowUri}/#/experiments/0/prompts/${encodeURIComponent(names.get('security_worker') ?? '')}`,
    );
  });

  it('loads by --alias and takes data from --data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'promptops-cli-predict-'));
    const data = join(dir, 'data.json');
    writeFileSync(data, JSON.stringify({ quality: { stale_tables: ['sales.orders'] } }));
    const run = await runCli(
      ['predict', 'Is the data fresh?', '--alias', 'staging', '--data', data, '--json'],
      env,
    );
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.prompts.find((p: { name: string }) => p.name === names.get('orchestrator'))).toMatchObject({
      version: 2,
      alias: 'staging',
    });
    // The worker got the data, not the no-data notice.
    const worker = standin.requests.find((r) => JSON.stringify(r.body).includes('sales.orders'));
    expect(worker).toBeDefined();
  });

  it.each([
    [['predict'], /exactly one question/],
    [['predict', 'q', '--data', '/nonexistent/data.json'], /--data: cannot read/],
    [['predict', 'q', '--api', 'http://127.0.0.1:1', '--local'], /--api or --local/],
  ])('exits 2 on wrong usage: %j', async (argv, message) => {
    const run = await runCli(argv, env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('exits 2 naming what is missing when no model is configured', async () => {
    const run = await runCli(['predict', 'q'], { ...env, OPENAI_BASE_URL: undefined });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/OPENAI_BASE_URL/);
    const noName = await runCli(['predict', 'q'], { ...env, PROMPTOPS_MODEL: undefined });
    expect(noName.stderr).toMatch(/--model NAME or set PROMPTOPS_MODEL/);
  });

  it('exits 1 with an error object on stdout and one line on stderr when it cannot answer', async () => {
    standin.fail({ status: 400, body: '{"error": {"message": "model not loaded"}}' });
    const run = await runCli(['predict', 'Why did the bill go up?', '--json'], env);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      error: { code: 'MODEL_FAILED', message: expect.stringContaining('model not loaded') },
    });
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^promptops: MODEL_FAILED: /);
  });

  it('answers from the prompt files when the registry is down, flagged fallback, exit 0', async () => {
    const run = await runCli(['predict', 'Is spend up?', '--json'], {
      ...env,
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:9',
      PREDICT_LOAD_BUDGET_MS: '500',
      PREDICT_TRACE_BUDGET_MS: '500',
    });
    expect(run.code).toBe(0);
    // With --json, what was served is in the object; stderr stays empty.
    expect(run.stderr).toBe('');
    const json = JSON.parse(run.stdout);
    expect(
      json.prompts.every(
        (p: { source: string; version: unknown }) => p.source === 'fallback' && p.version === null,
      ),
    ).toBe(true);
    const forPeople = await runCli(['predict', 'Is spend up?'], {
      ...env,
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:9',
      PREDICT_LOAD_BUDGET_MS: '500',
      PREDICT_TRACE_BUDGET_MS: '500',
    });
    expect(forPeople.code).toBe(0);
    expect(forPeople.stderr).toMatch(/^promptops: warning: prompt served from the bundled fallback \(/m);
    expect(forPeople.stdout).toContain('(fallback)');
  });
});

describe('promptops snapshot', () => {
  it('reads what the alias serves in the registry', async () => {
    const run = await runCli(['snapshot', '--alias', 'staging', '--pins', 'cost_worker=1'], env);
    expect(run.code).toBe(0);
    const snapshot = promptSnapshotSchema.parse(JSON.parse(run.stdout));
    expect(snapshot.source).toBe('registry');
    expect(snapshot.entries.find((e) => e.key === 'orchestrator')).toMatchObject({
      name: names.get('orchestrator'),
      version: 2,
      alias: 'staging',
    });
    expect(snapshot.entries.find((e) => e.key === 'cost_worker')).toMatchObject({ version: 1, alias: null });
    expect(snapshot.entries.every((e) => e.contentHash !== null || e.key === 'orchestrator')).toBe(true);
  });

  it('refuses to take a version the agent cannot use as the fallback, naming it', async () => {
    const other = uniqueNaming('cli-snapshot-bad');
    const otherNames = await registerAgentPrompts(registry, other);
    const synthesizer = otherNames.get('synthesizer') as string;
    const bad = await registry.registerPrompt({
      name: synthesizer,
      template: 'Combine {{domain_responses}} for {{query}} in the tone {{tone}}.',
    });
    await registry.setAlias(synthesizer, 'production', bad.version);
    const run = await runCli(['snapshot'], { ...env, PROMPT_NAME_PREFIX: other.prefix });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      new RegExp(`${synthesizer.replaceAll('.', '\\.')} version 2 cannot serve as the agent's synthesizer`),
    );
    expect(run.stderr).toMatch(/tone/);
  });

  it('takes the prompt files, saying so, without a registry; refuses with --require-registry', async () => {
    const run = await runCli(['snapshot'], { PROMPT_NAME_PREFIX: naming.prefix });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/no MLFLOW_TRACKING_URI/);
    const snapshot = promptSnapshotSchema.parse(JSON.parse(run.stdout));
    expect(snapshot.source).toBe('files');
    expect(snapshot.entries).toHaveLength(8);
    const down = await runCli(['snapshot', '--require-registry'], {
      ...env,
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:9',
      PROMPTOPS_HTTP_TIMEOUT_MS: '300',
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^promptops: UNAVAILABLE/);
  });
});
