import { describe, expect, it } from 'vitest';
import { BUILT_IN_CONTRACT } from '../../lib/agent/contract';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { MalformedResponseError, NotFoundError, UnauthorizedError, UnavailableError } from '../../lib/errors';
import { EXPERIMENT_TAG } from '../../lib/experiments/definition';
import { historyTag } from '../../lib/promote/history';
import { snapshotFromFiles } from '../../lib/prompt-loader/snapshot';
import { loadPromptFiles } from '../../lib/prompts/directory';
import { CONTENT_HASH_TAG, contentHash } from '../../lib/register/content-hash';
import type { Prompt, PromptTarget, PromptVersion, RegistryClient } from '../../lib/registry';
import { verifyPrompts, verifyThrough } from '../../lib/verify/verify';

const files = await loadPromptFiles(['prompts']);
const NOW = Date.parse('2026-12-06T12:00:00Z');

/** A registry of the agent's prompts as the pipeline writes them, version 1 under both aliases. */
function registryOf(
  edit: (versions: Map<string, PromptVersion[]>, prompts: Map<string, Prompt>) => void = () => {},
) {
  const versions = new Map<string, PromptVersion[]>();
  const prompts = new Map<string, Prompt>();
  for (const file of files) {
    versions.set(file.name, [
      {
        name: file.name,
        version: 1,
        type: typeof file.template === 'string' ? 'text' : 'chat',
        template: file.template,
        variables: [],
        commitMessage: undefined,
        tags: { ...file.tags, [CONTENT_HASH_TAG]: contentHash(file) },
        aliases: ['production', 'staging'],
        modelConfig: file.modelConfig as PromptVersion['modelConfig'],
        responseFormat: file.responseFormat,
        creationTimestamp: NOW - 3 * 3_600_000,
        lastUpdatedTimestamp: undefined,
        userId: undefined,
        uri: `prompts:/${file.name}/1`,
      },
    ]);
    prompts.set(file.name, {
      name: file.name,
      description: undefined,
      tags: {},
      aliases: { production: 1, staging: 1 },
      latestVersion: 1,
      creationTimestamp: undefined,
      lastUpdatedTimestamp: undefined,
    } as Prompt);
  }
  edit(versions, prompts);
  const registry = {
    findPrompts: async (names: readonly string[]) =>
      names.flatMap((n) => (prompts.has(n) ? [prompts.get(n) as Prompt] : [])),
    resolvePrompts: async (targets: readonly PromptTarget[]) =>
      targets.map((target) => {
        const version = versions.get(target.name)?.find((v) => v.version === target.version);
        return version
          ? { target, version, promptTags: {} }
          : { target, missing: new NotFoundError(`no version ${target.version}`) };
      }),
  };
  return registry as unknown as RegistryClient;
}

const verify = (registry: RegistryClient, extra: Partial<Parameters<typeof verifyPrompts>[1]> = {}) =>
  verifyPrompts(registry, { naming: {}, contract: BUILT_IN_CONTRACT, now: () => NOW, ...extra });

const only = (result: Awaited<ReturnType<typeof verifyPrompts>>, prompt: string) =>
  result.checks.filter((c) => c.prompt === prompt).map((c) => `${c.alias}:${c.status}:${c.code}`);

/** A new version of `prompt` with `changes`, with production (or `alias`) moved to it. */
function newVersion(
  versions: Map<string, PromptVersion[]>,
  prompts: Map<string, Prompt>,
  prompt: string,
  changes: Partial<PromptVersion>,
  alias = 'production',
) {
  const first = versions.get(prompt)?.[0] as PromptVersion;
  versions.get(prompt)?.push({ ...first, version: 2, tags: {}, ...changes });
  const current = prompts.get(prompt) as Prompt;
  prompts.set(prompt, { ...current, aliases: { ...current.aliases, [alias]: 2 } });
}

describe('verify, check by check', () => {
  it('is all ok for what the pipeline wrote', async () => {
    const result = await verify(registryOf());
    expect(result.ok).toBe(true);
    expect(result.checks.map((c) => c.code)).toEqual(Array(16).fill('OK'));
  });

  it('warns of an experiment predict cannot read, and of a live one whose variant alias is gone', async () => {
    const live = {
      id: 'brevity',
      revision: 1,
      control: 'production',
      variants: [
        { alias: 'candidate', weight_bp: 1_000 },
        { alias: 'paused', weight_bp: 0 },
      ],
      key: 'user',
      status: 'running',
      started_at: '2026-12-01T00:00:00.000Z',
    };
    const withTags = (prompts: Map<string, Prompt>, name: string, tags: Record<string, string>) =>
      prompts.set(name, { ...(prompts.get(name) as Prompt), tags });
    const result = await verify(
      registryOf((_versions, prompts) => {
        withTags(prompts, 'orchestrator', { [EXPERIMENT_TAG]: '{"id": "hand-edited"' });
        withTags(prompts, 'synthesizer', { [EXPERIMENT_TAG]: JSON.stringify(live) });
        // Ended: nothing is served from it, nothing to say.
        withTags(prompts, 'cost_worker', {
          [EXPERIMENT_TAG]: JSON.stringify({ ...live, ends_at: '2026-12-02T00:00:00.000Z' }),
        });
      }),
    );
    expect(result.ok).toBe(true);
    const experiments = result.checks.filter((c) => c.code.startsWith('EXPERIMENT_'));
    expect(experiments.map((c) => `${c.prompt}:${c.alias}:${c.status}:${c.code}`)).toEqual([
      'orchestrator:null:warn:EXPERIMENT_INVALID',
      'synthesizer:candidate:warn:EXPERIMENT_VARIANT_MISSING',
    ]);
    expect(experiments[0]?.message).toContain("experiment tag of prompt 'orchestrator' is not JSON");
    expect(experiments[1]?.message).toContain("sends 10% of traffic to alias 'candidate'");
  });

  it('warns of an alias whose history ends elsewhere than it points (ALIAS_UNRECORDED), not of one never moved here', async () => {
    const moved = (version: number) =>
      JSON.stringify([
        {
          action: 'register',
          version: 1,
          previousVersion: null,
          by: 'register',
          at: '2026-12-01T00:00:00.000Z',
        },
        ...(version === 1
          ? []
          : [{ action: 'promote', version, previousVersion: 1, by: 'ops', at: '2026-12-02T00:00:00.000Z' }]),
      ]);
    const result = await verify(
      registryOf((_versions, prompts) => {
        // Recorded at version 2, but pointing at 1: moved back by hand (or the record was lost).
        const orchestrator = prompts.get('orchestrator') as Prompt;
        prompts.set('orchestrator', { ...orchestrator, tags: { [historyTag('production')]: moved(2) } });
        // Recorded where it points: nothing to say.
        const synthesizer = prompts.get('synthesizer') as Prompt;
        prompts.set('synthesizer', { ...synthesizer, tags: { [historyTag('production')]: moved(1) } });
      }),
    );
    expect(result.ok).toBe(true);
    const unrecorded = result.checks.filter((c) => c.code === 'ALIAS_UNRECORDED');
    expect(unrecorded.map((c) => `${c.prompt}:${c.alias}:${c.version}:${c.status}`)).toEqual([
      'orchestrator:production:1:warn',
    ]);
    expect(unrecorded[0]?.message).toMatch(
      /history's last move is to version 2.*promptops promote orchestrator --from 1 --to production/,
    );
  });

  it('fails a Jinja2 template and a chat role the agent does not send (TEMPLATE_UNUSABLE)', async () => {
    const result = await verify(
      registryOf((versions, prompts) => {
        newVersion(versions, prompts, 'orchestrator', {
          template: '{% if query %}{{ query }}{% endif %} {{ context }}',
        });
        newVersion(versions, prompts, 'synthesizer', {
          type: 'chat',
          template: [{ role: 'tool', content: '{{query}} {{domain_responses}}' }],
        });
      }),
    );
    expect(only(result, 'orchestrator')).toEqual([
      'production:fail:TEMPLATE_UNUSABLE',
      // The other checks still run: a version made outside the pipeline says so too.
      'production:warn:CONTENT_HASH_MISSING',
      'staging:ok:OK',
    ]);
    expect(only(result, 'synthesizer')[0]).toBe('production:fail:TEMPLATE_UNUSABLE');
    expect(result.checks.find((c) => c.prompt === 'synthesizer')?.message).toContain("role 'tool'");
  });

  it('fails a classifier response format the agent cannot read the domains from (RESPONSE_FORMAT_UNUSABLE)', async () => {
    const result = await verify(
      registryOf((versions, prompts) =>
        newVersion(versions, prompts, 'intent_classifier', {
          responseFormat: { type: 'object', properties: { topics: { type: 'array' } } },
        }),
      ),
    );
    expect(only(result, 'intent_classifier')).toContain('production:fail:RESPONSE_FORMAT_UNUSABLE');
  });

  it('fails an alias kept on a version that is gone (ALIAS_VERSION_MISSING), for registries that keep it', async () => {
    const result = await verify(
      registryOf((_versions, prompts) => {
        const p = prompts.get('cost_worker') as Prompt;
        prompts.set('cost_worker', { ...p, aliases: { production: 7, staging: 1 } });
      }),
    );
    expect(only(result, 'cost_worker')).toEqual(['production:fail:ALIAS_VERSION_MISSING', 'staging:ok:OK']);
  });

  it('warns when the bundled fallback differs from production (FALLBACK_DIFFERS), with the staging age', async () => {
    const fallback = snapshotFromFiles(files, {});
    const result = await verify(
      registryOf((versions, prompts) => {
        newVersion(versions, prompts, 'quality_worker', { template: 'Quality now: {{query}} {{data}}' });
        newVersion(
          versions,
          prompts,
          'security_worker',
          { template: 'Security next: {{query}} {{data}}', creationTimestamp: NOW - 90 * 60_000 },
          'staging',
        );
      }),
      { fallback },
    );
    expect(only(result, 'quality_worker')).toEqual([
      'production:ok:OK',
      'production:warn:CONTENT_HASH_MISSING',
      'production:warn:FALLBACK_DIFFERS',
      'staging:ok:OK',
    ]);
    expect(result.ok).toBe(true);
    const ahead = result.checks.find((c) => c.code === 'STAGING_AHEAD');
    expect(ahead?.message).toBe(
      'staging (version 2) is ahead of production (version 1) (registered 1.5 h ago): a promotion is pending.',
    );
  });

  it.each([
    [
      new UnauthorizedError('refused', { registry: { operation: 'findPrompts', httpStatus: 401 } }),
      'CREDENTIALS_REFUSED',
    ],
    [new UnavailableError('no answer', { registry: { operation: 'findPrompts' } }), 'REGISTRY_UNREACHABLE'],
    [new Error('surprise'), 'REGISTRY_FAILED'],
  ])('reports a registry that cannot be read once for the run: %s', async (error, code) => {
    const failing = {
      findPrompts: async () => {
        throw error;
      },
    } as unknown as RegistryClient;
    // Refused credentials reach the holder of the secret (it would fetch it again) ...
    if (code === 'CREDENTIALS_REFUSED') await expect(verify(failing)).rejects.toBe(error);
    // ... and a run through it reports what is left as one failure.
    const result = await verifyThrough(
      { withRegistry: (work) => work(failing) },
      { naming: {}, contract: BUILT_IN_CONTRACT, now: () => NOW },
    );
    expect(result).toEqual({
      ok: false,
      checks: [expect.objectContaining({ prompt: '*', alias: null, version: null, status: 'fail', code })],
    });
  });

  it('fails a missing prompt (a line per alias), a missing alias (with its last recorded version), an edited hash and a version the agent cannot format', async () => {
    const result = await verify(
      registryOf((versions, prompts) => {
        prompts.delete('quality_worker');
        const cost = prompts.get('cost_worker') as Prompt;
        prompts.set('cost_worker', {
          ...cost,
          aliases: { staging: 1 },
          tags: {
            'promptops.alias_history.production': JSON.stringify([
              { action: 'promote', version: 4, previousVersion: 3, by: 'ci', at: '2026-12-01T00:00:00Z' },
            ]),
          },
        });
        const orchestrator = versions.get('orchestrator')?.[0] as PromptVersion;
        versions.set('orchestrator', [
          { ...orchestrator, tags: { ...orchestrator.tags, [CONTENT_HASH_TAG]: 'sha256:edited' } },
        ]);
        newVersion(versions, prompts, 'synthesizer', { template: '{{query}} {{domain_responses}} {{tone}}' });
      }),
    );
    expect(only(result, 'quality_worker')).toEqual([
      'production:fail:PROMPT_MISSING',
      'staging:fail:PROMPT_MISSING',
    ]);
    expect(only(result, 'cost_worker')).toEqual(['production:fail:ALIAS_MISSING', 'staging:ok:OK']);
    expect(result.checks.find((c) => c.code === 'ALIAS_MISSING')?.message).toContain(
      'its history last recorded version 4',
    );
    expect(only(result, 'orchestrator')).toEqual([
      'production:fail:CONTENT_HASH_MISMATCH',
      'staging:fail:CONTENT_HASH_MISMATCH',
    ]);
    expect(only(result, 'synthesizer')).toEqual([
      'production:fail:CONTRACT_VIOLATED',
      'production:warn:CONTENT_HASH_MISSING',
      'staging:ok:OK',
    ]);
    expect(result.checks.find((c) => c.code === 'CONTRACT_VIOLATED')?.message).toContain('needs tone');
  });

  it('names a version whose template does not parse (TEMPLATE_INVALID) by reading each alone', async () => {
    const healthy = registryOf();
    const registry = {
      ...healthy,
      resolvePrompts: async () => {
        throw new MalformedResponseError('resolvePrompts: the chat template is not a list of messages');
      },
      getPromptVersion: async (name: string, version: number) => {
        if (name === 'orchestrator')
          throw new MalformedResponseError('getPromptVersion: tag mlflow.prompt.text is not JSON');
        const [answer] = await healthy.resolvePrompts([{ name, version }], { allowMissing: true });
        return (answer as { version: PromptVersion }).version;
      },
    } as unknown as RegistryClient;
    const result = await verify(registry);
    expect(only(result, 'orchestrator')).toEqual([
      'production:fail:TEMPLATE_INVALID',
      'staging:fail:TEMPLATE_INVALID',
    ]);
    expect(result.checks.filter((c) => c.code === 'OK')).toHaveLength(14);
  });

  it('takes the aliases it checks from VERIFY_ALIASES: once each, never latest or v<N>', () => {
    const env = (VERIFY_ALIASES?: string) => parseVerifyEnv({ PROMPTOPS_SECRET_ID: 's', VERIFY_ALIASES });
    expect(env().VERIFY_ALIASES).toEqual(['production', 'staging']);
    expect(env(' production, canary ,production').VERIFY_ALIASES).toEqual(['production', 'canary']);
    // The variable is named, its value never (it could be a secret put in the wrong place).
    expect(() => env('production,latest')).toThrow(/VERIFY_ALIASES: The alias '\(the value given\)'/);
    expect(() => env('v2')).toThrow(/VERIFY_ALIASES/);
  });
});
