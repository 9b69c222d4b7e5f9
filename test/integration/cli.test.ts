/** The `promptops` CLI against a real MLflow server: in-process for detail, and once as a process. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadPromptFiles } from '../../lib/prompts/directory';
import { createRegistryClient } from '../../lib/registry';
import { runCli } from '../support/cli';
import { uniqueName } from '../support/names';
import { freePort } from '../support/servers';

const uri = inject('mlflowUri');
const exec = promisify(execFile);

const cli = (argv: string[], env: NodeJS.ProcessEnv = { MLFLOW_TRACKING_URI: uri }) => runCli(argv, env);

let name: string;

beforeAll(async () => {
  const registry = createRegistryClient({ trackingUri: uri });
  const [orchestrator] = await loadPromptFiles(['prompts/orchestrator.md']);
  if (!orchestrator) throw new Error('prompts/orchestrator.md is missing');
  name = uniqueName('cli');
  const created = await registry.registerPrompt({
    name,
    template: orchestrator.template,
    commitMessage: 'from prompts/',
    tags: { ...orchestrator.tags },
    modelConfig: orchestrator.modelConfig,
  });
  await registry.setAlias(name, 'production', created.version);
  await registry.registerPrompt({ name, template: [{ role: 'user', content: 'Q: {{ query }}' }] });
});

describe('promptops show', () => {
  it('prints the resolved version as JSON with the documented keys', async () => {
    const { code, stdout, stderr } = await cli(['show', `prompts:/${name}@production`, '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const shown = JSON.parse(stdout);
    expect(Object.keys(shown)).toEqual([
      'name',
      'version',
      'type',
      'template',
      'variables',
      'tags',
      'aliases',
      'modelConfig',
      'responseFormat',
      'commitMessage',
    ]);
    expect(shown).toMatchObject({
      name,
      version: 1,
      type: 'text',
      variables: ['context', 'query'],
      tags: { agent: 'health-monitor', role: 'orchestrator' },
      aliases: ['production'],
      modelConfig: { temperature: 0.2 },
      responseFormat: null,
      commitMessage: 'from prompts/',
    });
    expect(shown.template).toContain('User Query: {{query}}');
  });

  it('shows a chat version, by bare name (latest), for people', async () => {
    const { code, stdout } = await cli(['show', name]);
    expect(code).toBe(0);
    expect(stdout).toContain(`prompts:/${name}/2 (chat)`);
    expect(stdout).toContain('[user]\nQ: {{ query }}');
  });
});

describe('promptops format', () => {
  it('prints the formatted text', async () => {
    const { code, stdout } = await cli([
      'format',
      `prompts:/${name}/1`,
      '--var',
      'query=Why did cost rise?',
      '--var',
      'context=a=b',
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('User Query: Why did cost rise?\nContext: a=b\n');
  });

  it('warns of a --var the version has no variable for, rather than dropping it silently', async () => {
    const { code, stdout, stderr } = await cli([
      'format',
      `prompts:/${name}/2`,
      '--var',
      'query=hi',
      '--var',
      'qeury=x',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([{ role: 'user', content: 'Q: hi' }]);
    expect(stderr).toBe(
      `promptops: warning: ${name} version 2 has no variable 'qeury' (it has 'query'); ignored.\n`,
    );
  });

  it('prints chat messages as JSON', async () => {
    const { code, stdout } = await cli(['format', `prompts:/${name}/2`, '--var', 'query=hi']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([{ role: 'user', content: 'Q: hi' }]);
  });

  it('fails with one line naming the missing variables', async () => {
    const { code, stdout, stderr } = await cli(['format', `prompts:/${name}/1`, '--var', 'query=x']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^promptops: MISSING_VARIABLES: .*context.*\n$/);
  });
});

describe('exit codes and errors', () => {
  it.each([
    [['show', 'prompts:/nope.nothing@production'], 1, /NOT_FOUND/],
    // A malformed URI is wrong usage, as a malformed --var is (one rule: usage 2, failure 1).
    [['show', 'prompts:/bad name/1'], 2, /Invalid prompt name/],
    [['show'], 2, /exactly one prompt URI/],
    [['frobnicate'], 2, /unknown command/],
    [['format', 'x', '--var', 'novalue'], 2, /key=value/],
    [['show', 'x', '--bogus'], 2, /bogus/],
  ])('%j exits %i', async (argv, exitCode, message) => {
    const { code, stderr } = await cli(argv);
    expect(code).toBe(exitCode);
    expect(stderr).toMatch(message);
  });

  it('asks for MLFLOW_TRACKING_URI when it is not set', async () => {
    const { code, stderr } = await cli(['show', 'x'], {});
    expect(code).toBe(2);
    expect(stderr).toMatch(/MLFLOW_TRACKING_URI/);
  });

  it('runs as the packaged bin: JSON on stdout, exit 0; one line on stderr, exit 1', async () => {
    await exec(process.execPath, ['scripts/build-cli.mjs']);
    const env = { ...process.env, MLFLOW_TRACKING_URI: uri };
    const ok = await exec(
      process.execPath,
      ['bin/promptops.mjs', 'show', `prompts:/${name}@production`, '--json'],
      {
        env,
      },
    );
    expect(JSON.parse(ok.stdout)).toMatchObject({ name, version: 1 });
    const failed = await exec(process.execPath, ['bin/promptops.mjs', 'show', 'prompts:/nope.nothing/1'], {
      env,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);

    // An unreachable registry: retried, then one line and exit 1 (not a process that just stops).
    const port = await freePort();
    const offline = await exec(process.execPath, ['bin/promptops.mjs', 'show', 'prompts:/p/1'], {
      env: { ...process.env, MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}` },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(offline).toMatchObject({ code: 1 });
    expect((offline as { stderr: string }).stderr).toMatch(/^promptops: UNAVAILABLE: .*did not answer/);
  });
});
