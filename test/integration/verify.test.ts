/**
 * Verify against the real MLflow: each failure made with real registry operations, and a healthy
 * registry reported all ok; the CLI's table, JSON and exit codes.
 */
import { describe, expect, inject, it } from 'vitest';
import { BUILT_IN_CONTRACT } from '../../lib/agent/contract';
import { historyTag } from '../../lib/promote/history';
import { moveAlias } from '../../lib/promote/move-alias';
import { CONTENT_HASH_TAG } from '../../lib/register/content-hash';
import { createRegistryClient } from '../../lib/registry';
import { verifyPrompts } from '../../lib/verify/verify';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { runCli } from '../support/cli';
import { startMlflow } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const registry = createRegistryClient({ trackingUri: mlflowUri });

async function setUp(label: string) {
  const naming = uniqueNaming(label);
  const names = await registerAgentPrompts(registry, naming);
  const name = (short: string) => names.get(short) as string;
  const verify = (extra: Partial<Parameters<typeof verifyPrompts>[1]> = {}) =>
    verifyPrompts(registry, { naming, contract: BUILT_IN_CONTRACT, ...extra });
  return { naming, name, verify };
}

/** An alias moved as the promote API moves it: recorded in its history. */
async function promoted(name: string, alias: string, version: number): Promise<void> {
  await moveAlias(registry, { name, alias, version, action: 'promote', by: 'verify-test', now: new Date() });
}

/** MLflow's own delete of a model version (the client has none: nothing in production deletes). */
async function deleteVersion(name: string, version: number): Promise<void> {
  const response = await fetch(`${mlflowUri}/api/2.0/mlflow/model-versions/delete`, {
    method: 'DELETE',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, version: String(version) }),
  });
  expect(response.status).toBe(200);
}

const codes = (report: Awaited<ReturnType<typeof verifyPrompts>>, prompt?: string) =>
  report.checks.filter((c) => prompt === undefined || c.prompt === prompt).map((c) => `${c.alias}:${c.code}`);

describe('verify against MLflow', () => {
  it('reports every alias of a registry the pipeline wrote as ok, in a few requests', async () => {
    const { verify } = await setUp('healthy');
    const before = registry.requestCount;
    const result = await verify();
    expect(registry.requestCount - before).toBeLessThanOrEqual(3);
    expect(result.ok).toBe(true);
    expect(result.checks).toHaveLength(16);
    expect(result.checks.every((c) => c.status === 'ok' && c.code === 'OK')).toBe(true);
  });

  it('finds a missing prompt, a missing alias with the version its history last recorded, and a version deleted under its alias', async () => {
    const { name, verify } = await setUp('missing');
    await registry.deletePrompt(name('quality_worker'));
    await registry.deleteAlias(name('cost_worker'), 'staging');
    // A version promoted by the API (its history records it), then deleted: MLflow 3.17.2 deletes
    // the version's aliases with it.
    const v2 = await registry.createPromptVersion({
      name: name('security_worker'),
      template: 'Security {{query}} {{data}}',
    });
    await promoted(name('security_worker'), 'production', v2.version);
    await registry.setPromptTag(
      name('security_worker'),
      historyTag('production'),
      JSON.stringify([
        {
          action: 'promote',
          version: v2.version,
          previousVersion: 1,
          by: 'arn:aws:iam::123456789012:user/ops',
          at: '2026-12-06T00:00:00Z',
        },
      ]),
    );
    await deleteVersion(name('security_worker'), v2.version);

    const result = await verify();
    expect(result.ok).toBe(false);
    expect(codes(result, name('quality_worker'))).toEqual([
      'production:PROMPT_MISSING',
      'staging:PROMPT_MISSING',
    ]);
    expect(codes(result, name('cost_worker'))).toEqual(['production:OK', 'staging:ALIAS_MISSING']);
    const deleted = result.checks.find(
      (c) => c.prompt === name('security_worker') && c.alias === 'production',
    );
    expect(deleted).toMatchObject({ status: 'fail', code: 'ALIAS_MISSING' });
    expect(deleted?.message).toContain(`its history last recorded version ${v2.version}`);
  });

  it('fails a version the agent cannot format and a hash edited outside the pipeline; warns of staging ahead and of a version registered outside it', async () => {
    const { name, verify } = await setUp('broken');
    const needsBudget = await registry.createPromptVersion({
      name: name('cost_worker'),
      template: 'Cost {{query}} {{data}} within {{budget}}',
    });
    await promoted(name('cost_worker'), 'production', needsBudget.version);
    await registry.setVersionTag(name('orchestrator'), 1, CONTENT_HASH_TAG, 'sha256:0000');
    const ahead = await registry.createPromptVersion({
      name: name('synthesizer'),
      template: 'Sum up {{query}}: {{domain_responses}}',
    });
    await promoted(name('synthesizer'), 'staging', ahead.version);

    const result = await verify();
    expect(result.ok).toBe(false);
    expect(codes(result, name('cost_worker'))).toContain('production:CONTRACT_VIOLATED');
    const violated = result.checks.find((c) => c.code === 'CONTRACT_VIOLATED');
    expect(violated?.message).toContain('budget');
    expect(codes(result, name('orchestrator'))).toEqual([
      'production:CONTENT_HASH_MISMATCH',
      'staging:CONTENT_HASH_MISMATCH',
    ]);
    expect(codes(result, name('synthesizer'))).toEqual([
      'production:OK',
      'staging:OK',
      'staging:CONTENT_HASH_MISSING',
      'staging:STAGING_AHEAD',
    ]);
    expect(result.checks.find((c) => c.code === 'STAGING_AHEAD')?.status).toBe('warn');
  });

  it('names a version whose template does not parse, and still checks the others', async () => {
    const { name, verify } = await setUp('unparsable');
    const chat = await registry.createPromptVersion({
      name: name('orchestrator'),
      template: [{ role: 'system', content: 'Context {{context}} for {{query}}' }],
    });
    await promoted(name('orchestrator'), 'production', chat.version);
    // Edited by hand: the stored chat template is no longer JSON.
    const edited = await fetch(`${mlflowUri}/api/2.0/mlflow/model-versions/set-tag`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: name('orchestrator'),
        version: String(chat.version),
        key: 'mlflow.prompt.text',
        value: '[{"role": "system",',
      }),
    });
    expect(edited.status).toBe(200);

    const result = await verify();
    expect(result.ok).toBe(false);
    expect(codes(result, name('orchestrator'))).toEqual(['production:TEMPLATE_INVALID', 'staging:OK']);
    expect(result.checks.filter((c) => c.code === 'OK')).toHaveLength(15);
  });

  it('reports a registry that stopped once, not once per prompt', async () => {
    // A server of its own, with the agent's prompts, then stopped.
    const own = await startMlflow();
    const client = createRegistryClient({ trackingUri: own.url, retry: { maxAttempts: 1 } });
    const naming = uniqueNaming('stopped');
    await registerAgentPrompts(client, naming);
    expect((await verifyPrompts(client, { naming, contract: BUILT_IN_CONTRACT })).ok).toBe(true);
    await own.stop();
    const result = await verifyPrompts(client, { naming, contract: BUILT_IN_CONTRACT });
    expect(result.ok).toBe(false);
    expect(result.checks).toEqual([
      expect.objectContaining({ prompt: '*', status: 'fail', code: 'REGISTRY_UNREACHABLE' }),
    ]);
  });

  it('the CLI: a table, one JSON object with --json, exit 0 when all is well, 1 on a failure, 2 on wrong usage', async () => {
    const { naming, name } = await setUp('cli');
    const env = { MLFLOW_TRACKING_URI: mlflowUri, PROMPT_NAME_PREFIX: naming.prefix };
    const healthy = await runCli(['verify'], env);
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toContain('every alias resolves to a version the agent can use');

    await registry.deleteAlias(name('orchestrator'), 'production');
    const json = await runCli(['verify', '--json', '--alias', 'production'], env);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout);
    expect(Object.keys(parsed).sort()).toEqual(['checks', 'ok']);
    expect(parsed.ok).toBe(false);
    expect(parsed.checks).toHaveLength(8);
    expect(parsed.checks).toContainEqual({
      prompt: name('orchestrator'),
      alias: 'production',
      version: null,
      status: 'fail',
      code: 'ALIAS_MISSING',
      // Registration recorded production's first move: the history names the version to restore.
      message: `${name('orchestrator')} has no production alias: its history last recorded version 1; if that version still exists, restore it with \`promptops promote orchestrator --from 1 --to production\`, else promote one that does.`,
    });
    const table = await runCli(['verify', '--alias', 'production'], env);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/FAIL .*ALIAS_MISSING/);
    expect(table.stdout).toContain('1 failure(s), 0 warning(s)');
    expect((await runCli(['verify', 'extra'], env)).code).toBe(2);
    // Not an alias a prompt carries: nothing to check.
    expect((await runCli(['verify', '--alias', 'latest'], env)).code).toBe(2);
    expect((await runCli(['verify', '--prompts', 'no/such/dir', '--json'], env)).code).toBe(2);
  });
});
