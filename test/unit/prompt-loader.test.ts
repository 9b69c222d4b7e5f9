import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotFoundError, UnavailableError } from '../../lib/errors';
import {
  createPromptLoader,
  type LoadSpec,
  type PromptLoaderOptions,
  PromptsUnavailableError,
  type Resolve,
} from '../../lib/prompt-loader/loader';
import type { PromptSnapshot } from '../../lib/prompt-loader/snapshot';
import type { PromptTarget, PromptVersion, ResolvedPrompt } from '../../lib/registry';
import { currentDeadline } from '../../lib/runtime/deadline';
import { promptVersion } from '../support/prompt-versions';

const SPECS: LoadSpec[] = [
  { key: 'orchestrator', target: { name: 'orchestrator', alias: 'production' } },
  { key: 'cost_worker', target: { name: 'cost_worker', alias: 'production' } },
];

function version(name: string, n: number, template = `${name} v${n} {{query}}`): PromptVersion {
  return promptVersion(name, n, { template, aliases: ['production'] });
}

const SNAPSHOT: PromptSnapshot = {
  format: 1,
  source: 'registry',
  registry: 'http://mlflow.test',
  takenAt: '2026-12-01T00:00:00.000Z',
  entries: [
    {
      key: 'orchestrator',
      name: 'orchestrator',
      version: 1,
      alias: 'production',
      type: 'text',
      template: 'snapshot orchestrator {{query}}',
      modelConfig: null,
      responseFormat: null,
      contentHash: 'sha256:a',
    },
    {
      key: 'cost_worker',
      name: 'cost_worker',
      version: null,
      alias: null,
      type: 'text',
      template: 'file cost {{query}}',
      modelConfig: null,
      responseFormat: null,
      contentHash: 'sha256:b',
    },
  ],
};

/** A registry whose versions the test moves; each call is counted. */
function fakeRegistry() {
  const versions = new Map<string, number>([
    ['orchestrator', 3],
    ['cost_worker', 5],
  ]);
  const state = { calls: 0, failWith: undefined as unknown, hang: false, tags: {} as Record<string, string> };
  const resolve: Resolve = async (targets: readonly PromptTarget[]) => {
    state.calls += 1;
    if (state.hang) return new Promise(() => undefined);
    if (state.failWith !== undefined) throw state.failWith;
    return targets.map((target): ResolvedPrompt => {
      const n = versions.get(target.name);
      if (n === undefined) throw new NotFoundError(`no ${target.name}`);
      return { target, version: version(target.name, target.version ?? n), promptTags: { ...state.tags } };
    });
  };
  return { versions, state, resolve };
}

let clock: number;
beforeEach(() => {
  clock = 1_000_000;
});
afterEach(() => {
  vi.useRealTimers();
});

function loader(registry: ReturnType<typeof fakeRegistry>, overrides: Partial<PromptLoaderOptions> = {}) {
  return createPromptLoader({
    specs: SPECS,
    resolve: registry.resolve,
    snapshot: () => SNAPSHOT,
    ttlMs: 60_000,
    budgetMs: 3_000,
    now: () => clock,
    ...overrides,
  });
}

const summary = (load: Awaited<ReturnType<ReturnType<typeof loader>['load']>>) =>
  [...load.prompts.values()].map((p) => `${p.key}:${p.version}:${p.source}`);

describe('createPromptLoader', () => {
  it('loads every prompt in one registry batch when cold, flagged registry', async () => {
    const registry = fakeRegistry();
    const l = loader(registry);
    const load = await l.load();
    expect(summary(load)).toEqual(['orchestrator:3:registry', 'cost_worker:5:registry']);
    expect(load.refresh).toBeUndefined();
    expect(load.problems).toEqual([]);
    expect(registry.state.calls).toBe(1);
  });

  it('serves from the cache within the TTL without asking the registry', async () => {
    const registry = fakeRegistry();
    const l = loader(registry);
    await l.load();
    clock += 59_999;
    const load = await l.load();
    expect(summary(load)).toEqual(['orchestrator:3:cache', 'cost_worker:5:cache']);
    expect(load.refresh).toBeUndefined();
    expect(registry.state.calls).toBe(1);
  });

  it('past the TTL serves the cached versions and refreshes alongside; the next load sees the new ones', async () => {
    const registry = fakeRegistry();
    const l = loader(registry);
    await l.load();
    registry.versions.set('orchestrator', 4);
    clock += 60_000;
    const load = await l.load();
    expect(summary(load)).toEqual(['orchestrator:3:cache', 'cost_worker:5:cache']);
    expect(load.refresh).toBeDefined();
    expect(await load.refresh).toEqual({ refreshed: ['orchestrator', 'cost_worker'], failed: [] });
    const next = await l.load();
    expect(summary(next)).toEqual(['orchestrator:4:cache', 'cost_worker:5:cache']);
    expect(registry.state.calls).toBe(2);
  });

  it('keeps the last good version when the refresh fails, flagged stale with the cause', async () => {
    const registry = fakeRegistry();
    const l = loader(registry);
    await l.load();
    registry.state.failWith = new UnavailableError('registry down');
    clock += 60_000;
    const during = await l.load();
    expect(summary(during)).toEqual(['orchestrator:3:cache', 'cost_worker:5:cache']);
    const outcome = await during.refresh;
    expect(outcome?.failed.map((f) => f.key)).toEqual(['orchestrator', 'cost_worker']);
    const after = await l.load();
    expect(summary(after)).toEqual(['orchestrator:3:stale', 'cost_worker:5:stale']);
    expect(after.problems.map((p) => [p.key, p.source, (p.cause as Error).message])).toEqual([
      ['orchestrator', 'stale', 'registry down'],
      ['cost_worker', 'stale', 'registry down'],
    ]);
    // No new attempt right after a failure; one after retryAfterFailureMs (min(TTL, 5 s)).
    expect(after.refresh).toBeUndefined();
    clock += 5_000;
    registry.state.failWith = undefined;
    const retried = await l.load();
    expect(summary(retried)).toEqual(['orchestrator:3:stale', 'cost_worker:5:stale']);
    await retried.refresh;
    expect(summary(await l.load())).toEqual(['orchestrator:3:cache', 'cost_worker:5:cache']);
  });

  it('falls back to the bundled snapshot on a cold start with the registry down, never a placeholder', async () => {
    const registry = fakeRegistry();
    registry.state.failWith = new UnavailableError('connection refused');
    const l = loader(registry);
    const load = await l.load();
    expect(summary(load)).toEqual(['orchestrator:1:fallback', 'cost_worker:null:fallback']);
    expect(load.prompts.get('orchestrator')?.template).toBe('snapshot orchestrator {{query}}');
    expect(load.prompts.get('cost_worker')?.alias).toBeNull();
    expect(load.problems.map((p) => p.source)).toEqual(['fallback', 'fallback']);
    // The next invocation serves the fallback at once and retries the registry alongside.
    registry.state.failWith = undefined;
    clock += 5_000;
    const next = await l.load();
    expect(summary(next)).toEqual(['orchestrator:1:fallback', 'cost_worker:null:fallback']);
    await next.refresh;
    expect(summary(await l.load())).toEqual(['orchestrator:3:cache', 'cost_worker:5:cache']);
  });

  it('fails with the registry error when a prompt has neither a cached version nor a fallback', async () => {
    const registry = fakeRegistry();
    registry.state.failWith = new UnavailableError('connection refused');
    const l = loader(registry, { snapshot: () => undefined });
    const failure = await l.load().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PromptsUnavailableError);
    expect((failure as Error).message).toContain('orchestrator, cost_worker');
    expect((failure as Error).cause).toBe(registry.state.failWith);
  });

  it('uses a snapshot entry only for the same name and alias or version', async () => {
    const registry = fakeRegistry();
    registry.state.failWith = new UnavailableError('down');
    const specs: LoadSpec[] = [
      { key: 'orchestrator', target: { name: 'orchestrator', alias: 'staging' } },
      { key: 'cost_worker', target: { name: 'cost_worker', version: 2 } },
    ];
    const l = loader(registry, { specs });
    // orchestrator's snapshot is of production: not a stand-in for staging. cost_worker's is a file.
    await expect(l.load()).rejects.toThrow(/No version of orchestrator could be loaded/);
  });

  it('falls back when the registry does not answer within the budget', async () => {
    vi.useFakeTimers({ now: clock });
    const registry = fakeRegistry();
    registry.state.hang = true;
    const l = loader(registry, { now: Date.now });
    const loading = l.load();
    await vi.advanceTimersByTimeAsync(3_000);
    const load = await loading;
    expect(summary(load)).toEqual(['orchestrator:1:fallback', 'cost_worker:null:fallback']);
    expect(String((load.problems[0]?.cause as Error | undefined)?.message)).toContain('within 3000 ms');
  });

  it('runs the registry batch under a deadline of the budget', async () => {
    const seen: number[] = [];
    const registry = fakeRegistry();
    const l = loader(registry, {
      now: Date.now,
      resolve: (targets) => {
        seen.push(currentDeadline()?.remainingMs() ?? -1);
        return registry.resolve(targets);
      },
    });
    await l.load();
    expect(seen[0]).toBeGreaterThan(2_500);
    expect(seen[0]).toBeLessThanOrEqual(3_000);
  });

  it('shares one fetch among concurrent cold loads', async () => {
    const registry = fakeRegistry();
    const l = loader(registry);
    const loads = await Promise.all([l.load(), l.load(), l.load()]);
    expect(registry.state.calls).toBe(1);
    for (const load of loads) expect(load.prompts.size).toBe(2);
  });

  it('never expires a pinned version', async () => {
    const registry = fakeRegistry();
    const specs: LoadSpec[] = [{ key: 'cost_worker', target: { name: 'cost_worker', version: 2 } }];
    const l = loader(registry, { specs });
    expect(summary(await l.load())).toEqual(['cost_worker:2:registry']);
    clock += 10 * 60_000;
    const load = await l.load();
    expect(summary(load)).toEqual(['cost_worker:2:cache']);
    expect(load.refresh).toBeUndefined();
    expect(registry.state.calls).toBe(1);
  });

  it('does not serve a version the agent cannot use; the last good one stays', async () => {
    const registry = fakeRegistry();
    const l = loader(registry, {
      validate: (key, template) => {
        if (key === 'orchestrator' && String(template).includes('v4')) throw new Error('needs {{tone}}');
      },
    });
    await l.load();
    registry.versions.set('orchestrator', 4);
    clock += 60_000;
    await (await l.load()).refresh;
    const load = await l.load();
    expect(summary(load)).toEqual(['orchestrator:3:stale', 'cost_worker:5:cache']);
    expect(String((load.problems[0]?.cause as Error | undefined)?.message)).toBe('needs {{tone}}');
  });

  it('does not fall back to a snapshot entry the agent cannot use, and says why', async () => {
    const registry = fakeRegistry();
    registry.state.failWith = new UnavailableError('down');
    const l = loader(registry, {
      validate: (key) => {
        if (key === 'cost_worker') throw new Error('the file needs {{region}}');
      },
    });
    const failure = await l.load().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PromptsUnavailableError);
    expect((failure as Error).message).toContain('cost_worker');
    expect(((failure as Error).cause as Error).message).toBe('down');
  });

  it('reads the snapshot only when a fallback is needed, and may read it asynchronously', async () => {
    const registry = fakeRegistry();
    let reads = 0;
    const l = loader(registry, {
      snapshot: async () => {
        reads += 1;
        return SNAPSHOT;
      },
    });
    await l.load();
    expect(reads).toBe(0);
    registry.state.failWith = new UnavailableError('down');
    const cold = loader(registry, { snapshot: async () => SNAPSHOT });
    expect(summary(await cold.load())).toEqual(['orchestrator:1:fallback', 'cost_worker:null:fallback']);
  });

  it('shares one refresh among concurrent loads past the TTL', async () => {
    const registry = fakeRegistry();
    const l = loader(registry);
    await l.load();
    clock += 60_000;
    const loads = await Promise.all([l.load(), l.load(), l.load()]);
    await Promise.all(loads.map((load) => load.refresh));
    expect(registry.state.calls).toBe(2);
  });

  it('remembers a prompt tag the caller wrote', async () => {
    const registry = fakeRegistry();
    const l = loader(registry);
    await l.load();
    l.notePromptTag('orchestrator', '_mlflow_experiment_ids', ',0,');
    const load = await l.load();
    expect(load.prompts.get('orchestrator')?.promptTags).toEqual({ _mlflow_experiment_ids: ',0,' });
  });
});
