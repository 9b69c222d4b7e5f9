/**
 * What an experiment adds to loading the agent's prompts, side by side in one run against a real
 * MLflow server: the same eight prompts under two namings, one of them with an experiment on the
 * orchestrator (one variant alias), loaded by predict's loader. Reported: registry requests of
 * the cold load and of each refresh, and the median time of a refresh, with their ratios.
 *
 * The experiment is in the prompt's tags, which the alias batch reads anyway; its variant is
 * resolved in the same batch as the prompts once the experiment is known. A cold load learns of
 * the experiment from that batch, and fetches the variant after it.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type ExperimentDefinition, experimentTagValue } from '../lib/experiments/definition';
import { loadSpecs } from '../lib/predict/load-specs';
import { createPromptLoader } from '../lib/prompt-loader/loader';
import { loadPromptFiles } from '../lib/prompts/directory';
import type { NamingOptions } from '../lib/prompts/naming';
import { registerPromptFile } from '../lib/register/register-prompt-file';
import { createRegistryClient, type RegistryClient } from '../lib/registry';
import { TAG_KEYS } from '../lib/registry/tag-keys';
import { runWithBenchServer } from './support/bench-server';
import { median, table } from './support/process-timing';

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS) || 30);
process.env.MLFLOW_DISABLE_TELEMETRY ??= 'true';

const EXPERIMENT: ExperimentDefinition = {
  id: 'orchestrator-brevity',
  revision: 1,
  control: 'production',
  variants: [{ alias: 'candidate', weight_bp: 5_000 }],
  key: 'user',
  status: 'running',
  started_at: '2026-01-01T00:00:00.000Z',
};

/**
 * The agent's prompts, and a newer orchestrator version behind `candidate` in both cases (what an
 * experiment tests is a version newer than production's): only the experiment differs.
 */
async function register(registry: RegistryClient, naming: NamingOptions, withExperiment: boolean) {
  for (const file of await loadPromptFiles(['prompts'])) await registerPromptFile(registry, file, { naming });
  const name = `${naming.prefix}orchestrator`;
  const v1 = await registry.getPromptVersion(name, 1);
  await registry.registerPrompt({ name, template: `${v1.template as string}\nBe brief.` });
  await registry.setAlias(name, 'candidate', 2);
  if (withExperiment)
    await registry.setPromptTag(name, TAG_KEYS.oss.experiment, experimentTagValue(EXPERIMENT));
}

runWithBenchServer('experiment-load', { workers: 1 }, async ({ server }) => {
  const cases: [string, NamingOptions][] = [
    ['without an experiment', { prefix: 'bench.plain.' }],
    ['with an experiment', { prefix: 'bench.experiment.' }],
  ];
  const setup = createRegistryClient({ trackingUri: server.url });
  for (const [label, naming] of cases) await register(setup, naming, label.startsWith('with '));

  const measured = cases.map(([label, naming]) => {
    const registry = createRegistryClient({ trackingUri: server.url });
    const loader = createPromptLoader({
      specs: loadSpecs({ alias: 'production', pins: new Map() }, naming),
      resolve: (targets) => registry.resolvePrompts(targets, { allowMissing: true }),
      snapshot: () => undefined,
      // Every load is a refresh: what a warm function does once a minute, here every time.
      ttlMs: 0,
      budgetMs: 5_000,
    });
    return {
      label,
      registry,
      loader,
      cold: [] as number[],
      coldTimes: [] as number[],
      requests: [] as number[],
      times: [] as number[],
      variants: 0,
    };
  });
  /** One load and the refresh it started, timed together; its registry requests. */
  async function timed(m: (typeof measured)[number]): Promise<{ requests: number; ms: number }> {
    const before = m.registry.requestCount;
    const started = performance.now();
    const load = await m.loader.load();
    await load.refresh;
    m.variants = load.variants.size;
    return { requests: m.registry.requestCount - before, ms: performance.now() - started };
  }
  // Interleaved rounds: a noisy neighbour slows both alike. A cold load (an empty cache, as a new
  // execution environment has), then a refresh (what a warm one does when its TTL has passed).
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const m of measured) {
      m.loader.clear();
      const cold = await timed(m);
      m.cold.push(cold.requests);
      m.coldTimes.push(cold.ms);
      const warm = await timed(m);
      m.requests.push(warm.requests);
      m.times.push(warm.ms);
    }
  }
  const base = measured[0] as (typeof measured)[number];
  const rows = measured.map((m) => [
    m.label,
    String(m.variants),
    String(median(m.cold)),
    `${median(m.coldTimes).toFixed(1)} (${(median(m.coldTimes) / median(base.coldTimes)).toFixed(2)}x)`,
    String(median(m.requests)),
    `${median(m.times).toFixed(1)} (${(median(m.times) / median(base.times)).toFixed(2)}x)`,
  ]);
  process.stdout.write(
    `Loading the agent's 8 prompts, ${ROUNDS} interleaved rounds (load ${loadavg()[0]?.toFixed(2)})\n` +
      `${table(
        [
          [
            'case',
            'variants',
            'requests cold',
            'ms cold (median)',
            'requests refresh',
            'ms refresh (median)',
          ],
          ...rows,
        ],
        new Set([1, 2, 3, 4, 5]),
      )}\n`,
  );
});
