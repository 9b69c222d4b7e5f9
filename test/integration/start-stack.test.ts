/**
 * `npm start` as a newcomer runs it, with the real local model (SmolLM2-135M on the CPU): the
 * stack comes up and prints its addresses; a second start names it and exits 0; a saved prompt
 * file is registered on staging; the agent answers on the real model (structure only: the model
 * is tiny) with the classifier's JSON valid and token usage on every model span; the promote API
 * answers; the verify function runs on its schedule; Ctrl-C stops everything it started.
 *
 * The prompts are a copy of prompts/, so the watcher's test edits never touch the checkout.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMAINS } from '../../lib/agent/domains';
import type { PredictJson } from '../../lib/cli/predict';
import { groupRuns, type ProcessRef } from '../../local/processes';
import { readStackRecord } from '../../local/stack-state';
import { runCli } from '../support/cli';
import { type Oracle, startOracle } from '../support/oracle';
import { type RunningStack, spawnStack } from '../support/running-stack';
import { freePort } from '../support/servers';

const exec = promisify(execFile);
const LOCAL_ADMIN = 'arn:aws:iam::000000000000:user/local-admin';

interface OracleSpan {
  name: string;
  type: string;
  token_usage: { input_tokens: number; output_tokens: number } | null;
  outputs: { choices?: { message?: { content?: string } }[] } | null;
}

let data: string;
let prompts: string;
let stack: RunningStack;
let oracle: Oracle | undefined;

const address = (label: string) => {
  const match = new RegExp(`^ {2}${label}\\s+(http://127\\.0\\.0\\.1:\\d+(?:/v1)?)`, 'm').exec(
    stack.output(),
  );
  if (!match?.[1]) throw new Error(`no ${label} address in:\n${stack.output()}`);
  return match[1];
};

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  data = mkdtempSync(join(tmpdir(), 'promptops-stack-'));
  prompts = join(data, 'prompts');
  cpSync('prompts', prompts, { recursive: true });
  // Its own process group, as a terminal runs it: the interrupt below goes to the whole group.
  stack = spawnStack(['--data', data, '--port', String(await freePort()), prompts]);
  await stack.printed(/The local stack is up/, 240_000);
}, 300_000);

/** The server process groups the stack recorded (MLflow, moto, serverless-offline). */
function recordedGroups(): readonly ProcessRef[] {
  return readStackRecord(data)?.groups ?? [];
}

afterAll(async () => {
  await oracle?.close();
  // A test that failed before Ctrl-C: stop it as a user would, then make sure.
  const groups = recordedGroups();
  if (stack.child.exitCode === null) {
    stack.signal('SIGINT');
    const stopped = await Promise.race([
      stack.exited,
      new Promise((resolve) => setTimeout(resolve, 30_000, 'late')),
    ]);
    if (stopped === 'late') stack.signal('SIGKILL');
  }
  for (const group of groups) {
    try {
      if (groupRuns(group.pid)) process.kill(-group.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(data, { recursive: true, force: true });
});

describe('npm start with the real local model', () => {
  it('prints every address and the commands to try, and a second start names it and exits 0', async () => {
    expect(stack.output()).toMatch(/Model\s+http:\/\/127\.0\.0\.1:\d+\/v1\s+SmolLM2-135M-Instruct/);
    expect(stack.output()).toContain(`Watching    ${prompts}`);
    expect(stack.output()).toContain('npx promptops predict --local --alias staging');
    const second = await exec(process.execPath, ['scripts/start.mjs', '--data', data], { timeout: 60_000 });
    const firstPid = /The local stack is up \(pid (\d+)\)/.exec(stack.output())?.[1];
    expect(second.stdout).toContain(`A local stack is already running on ${data} (pid ${firstPid},`);
    expect(second.stdout).toContain(`${address('MLflow UI')}/#/prompts`);
    expect(second.stdout).toContain(address('HTTP API'));
    expect(second.stdout).toContain(address('Model'));
    // It started nothing: the claim is still the first stack's, with its three server groups.
    const record = readStackRecord(data);
    expect(String(record?.pid)).toBe(firstPid);
    expect(record?.groups).toHaveLength(3);
    // And a script's --once is told it did nothing.
    await expect(
      exec(process.execPath, ['scripts/start.mjs', '--once', '--data', data], { timeout: 60_000 }),
    ).rejects.toMatchObject({ code: 1 });
  }, 90_000);

  it('registers a saved prompt on staging, answers with it on the real model, and traces the model calls', async () => {
    const from = stack.output().length;
    const file = join(prompts, 'cost_worker.md');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nName the three biggest cost drivers first.\n`);
    await stack.printed(
      /cost_worker\.md saved: registered cost_worker version 2; staging v1 -> v2/,
      60_000,
      from,
    );

    const env = {
      MLFLOW_TRACKING_URI: address('MLflow UI'),
      OPENAI_BASE_URL: address('Model'),
      PROMPTOPS_MODEL: 'SmolLM2-135M-Instruct',
    };
    const run = await runCli(
      ['predict', '--alias', 'staging', '--json', 'Why did our DBU spend rise this week?'],
      env,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const answer = JSON.parse(run.stdout) as PredictJson;
    expect(answer.answer.trim()).not.toBe('');
    expect(answer.prompts).toContainEqual(
      expect.objectContaining({ name: 'cost_worker', version: 2, alias: 'staging' }),
    );

    oracle = startOracle(env.MLFLOW_TRACKING_URI);
    const trace = await oracle.call<{ spans: OracleSpan[] }>('get_trace', { trace_id: answer.traceId });
    const calls = trace.spans.filter((span) => span.type === 'CHAT_MODEL');
    expect(calls.map((span) => span.name)).toContain('classify_intent');
    for (const span of calls) {
      expect(span.token_usage?.input_tokens, span.name).toBeGreaterThan(0);
      expect(span.token_usage?.output_tokens, span.name).toBeGreaterThan(0);
    }
    // The classifier's JSON is valid by construction (its schema became a grammar).
    const classifier = calls.find((span) => span.name === 'classify_intent');
    const json = JSON.parse(classifier?.outputs?.choices?.[0]?.message?.content ?? 'not JSON') as {
      domains: string[];
    };
    expect(json.domains.length).toBeGreaterThan(0);
    for (const domain of json.domains) expect(DOMAINS).toContain(domain);
  }, 180_000);

  it('serves the promote API and runs the verify function on its schedule', async () => {
    const from = stack.output().length;
    const promoted = await runCli(
      [
        'promote',
        'cost_worker',
        '--api',
        address('HTTP API'),
        '--local-principal',
        LOCAL_ADMIN,
        '--reason',
        'tried on staging',
      ],
      {},
    );
    expect(promoted.stderr).toBe('');
    expect(promoted.stdout).toMatch(/production .*→ 2/);
    // Scheduled every minute, on the minute.
    await stack.printed(/verify \(scheduled\): passed, \d+ checks/, 75_000, from);
  }, 120_000);

  it('stops everything it started on Ctrl-C', async () => {
    const urls = [address('MLflow UI'), address('HTTP API'), address('Model'), address('Local AWS')];
    const groups = recordedGroups();
    expect(groups).toHaveLength(3);
    stack.signal('SIGINT');
    expect(await stack.exited).toBe(0);
    expect(stack.output()).toContain(
      'Stopping the HTTP API, the local model, MLflow and the local AWS emulator',
    );
    for (const url of urls) expect(await answers(url), url).toBe(false);
    // No process left in any of the groups (a server's workers included).
    for (const group of groups) expect(groupRuns(group.pid), `process group ${group.pid}`).toBe(false);
    expect(existsSync(join(data, 'stack.json'))).toBe(false);
  }, 60_000);
});
