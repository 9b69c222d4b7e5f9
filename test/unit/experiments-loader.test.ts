/**
 * The prompt loader with experiments, at the registry seam (a fake resolve counting its batches):
 * the variant found on a cold load, refreshed with its prompt in one batch (never on a clock of its
 * own), a variant that cannot be loaded failing nothing and not asked for again at once, and an
 * experiment outside its window loading nothing.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lib/errors';
import { type ExperimentDefinition, experimentTagValue } from '../../lib/experiments/definition';
import { createPromptLoader, type LoadSpec, variantKey } from '../../lib/prompt-loader/loader';
import type { PromptTarget, PromptVersion, ResolvedPrompt } from '../../lib/registry';
import { TAG_KEYS } from '../../lib/registry/tag-keys';
import { promptVersion } from '../support/prompt-versions';

const SPECS: LoadSpec[] = [
  { key: 'orchestrator', target: { name: 'orchestrator', alias: 'production' } },
  { key: 'cost_worker', target: { name: 'cost_worker', alias: 'production' } },
];
const T0 = Date.parse('2026-12-06T00:00:00.000Z');
const EXPERIMENT: ExperimentDefinition = {
  id: 'brevity',
  revision: 1,
  control: 'production',
  variants: [{ alias: 'candidate', weight_bp: 5_000 }],
  key: 'user',
  status: 'running',
  started_at: '2026-12-01T00:00:00.000Z',
};

const version = (name: string, n: number): PromptVersion => promptVersion(name, n);

function registry(
  experiment: ExperimentDefinition | undefined,
  { candidateMissing = false, clock }: { candidateMissing?: boolean; clock?: { t: number } } = {},
) {
  const batches: PromptTarget[][] = [];
  const resolve = async (targets: readonly PromptTarget[]) => {
    batches.push([...targets]);
    // Each batch takes 30 ms: the cold load's second batch answers later than its first.
    if (clock) clock.t += 30;
    return targets.map((target): ResolvedPrompt | { target: PromptTarget; missing: NotFoundError } => {
      if (target.alias === 'candidate' && candidateMissing)
        return { target, missing: new NotFoundError(`Prompt '${target.name}' has no alias 'candidate'.`) };
      const tags: Record<string, string> =
        target.name === 'orchestrator' && experiment
          ? { [TAG_KEYS.oss.experiment]: experimentTagValue(experiment) }
          : {};
      return {
        target,
        version: version(target.name, target.alias === 'candidate' ? 2 : 1),
        promptTags: tags,
      };
    });
  };
  return { batches, resolve };
}

function loader(resolve: ReturnType<typeof registry>['resolve'], clock: { t: number }) {
  return createPromptLoader({
    specs: SPECS,
    resolve,
    snapshot: () => undefined,
    ttlMs: 100,
    budgetMs: 1_000,
    retryAfterFailureMs: 1_000,
    now: () => clock.t,
  });
}

describe('the loader with an experiment', () => {
  it('finds the variant on the cold load, then refreshes it with its prompt, one batch per refresh', async () => {
    const clock = { t: T0 };
    const fake = registry(EXPERIMENT, { clock });
    const prompts = loader(fake.resolve, clock);
    const cold = await prompts.load();
    expect(fake.batches).toHaveLength(2);
    expect(cold.experiments.get('orchestrator')).toEqual(EXPERIMENT);
    expect(cold.variants.get(variantKey('orchestrator', 'candidate'))).toMatchObject({
      version: 2,
      source: 'registry',
    });

    // Steady traffic across ten TTLs, at times that would put the variant out of step on a clock of its own.
    for (let i = 1; i <= 30; i += 1) {
      clock.t = Math.max(clock.t, T0 + i * 37);
      const load = await prompts.load();
      await load.refresh;
    }
    const refreshes = fake.batches.slice(2);
    expect(refreshes.length).toBeGreaterThan(0);
    for (const batch of refreshes) {
      expect(batch.map((t) => t.alias ?? '').sort()).toEqual(['candidate', 'production', 'production']);
    }
    // As many batches as without the experiment.
    const plainClock = { t: T0 };
    const without = registry(undefined, { clock: plainClock });
    const plainLoader = createPromptLoader({
      specs: SPECS,
      resolve: without.resolve,
      snapshot: () => undefined,
      ttlMs: 100,
      budgetMs: 1_000,
      now: () => plainClock.t,
    });
    await plainLoader.load();
    for (let i = 1; i <= 30; i += 1) {
      plainClock.t = Math.max(plainClock.t, T0 + i * 37);
      await (await plainLoader.load()).refresh;
    }
    expect(refreshes).toHaveLength(without.batches.length - 1);
  });

  it('fails nothing when the variant cannot be loaded, and does not ask for it again at once', async () => {
    const clock = { t: T0 };
    const fake = registry(EXPERIMENT, { candidateMissing: true });
    const prompts = loader(fake.resolve, clock);
    const cold = await prompts.load();
    expect(cold.prompts.get('orchestrator')).toMatchObject({ version: 1, source: 'registry' });
    expect(cold.experiments.get('orchestrator')).toEqual(EXPERIMENT);
    expect(cold.variants.size).toBe(0);
    clock.t += 50;
    await prompts.load();
    expect(fake.batches).toHaveLength(2);
  });

  it('loads nothing for an experiment outside its window, or halted', async () => {
    for (const experiment of [
      { ...EXPERIMENT, ends_at: '2026-12-02T00:00:00.000Z' },
      { ...EXPERIMENT, started_at: '2027-01-01T00:00:00.000Z' },
      { ...EXPERIMENT, status: 'halted' as const },
    ]) {
      const fake = registry(experiment);
      const load = await loader(fake.resolve, { t: T0 }).load();
      expect(fake.batches).toHaveLength(1);
      expect(load.experiments.size).toBe(0);
    }
  });
});
