/**
 * Benchmark: verify over 200 generated prompts (`promptops verify --prompts DIR` checks a
 * directory's prompts the same way), production and staging each, against one fresh local
 * MLflow; side by side in the same rounds with the per-alias way (one `resolveAlias` per prompt
 * and alias, 8 in flight), which is what a check that knows no batching makes. Every request goes
 * through one counting proxy.
 *
 * Target: at most one registry request per prompt plus one. The report exits 0 whether or not it
 * is met; non-zero only when it could not run.
 */
import { performance } from 'node:perf_hooks';
import { BUILT_IN_CONTRACT } from '../lib/agent/contract';
import { registerPromptFile } from '../lib/register/register-prompt-file';
import { createRegistryClient, type RegistryClient } from '../lib/registry';
import { verifyPrompts } from '../lib/verify/verify';
import { runWithBenchServer } from './support/bench-server';
import { generatedPromptFiles } from './support/generated-prompts';
import { median, ms } from './support/process-timing';

const COUNT = Math.max(1, Number(process.env.BENCH_GENERATED) || 200);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 5);
const ALIASES = ['production', 'staging'];
const IN_FLIGHT = 8;

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/** Each prompt's aliases one request at a time (8 in flight): the per-alias way. */
async function perAlias(registry: RegistryClient, names: readonly string[]): Promise<number> {
  let ok = 0;
  const pairs = names.flatMap((name) => ALIASES.map((alias) => ({ name, alias })));
  await inBatches(pairs, IN_FLIGHT, async ({ name, alias }) => {
    await registry.resolveAlias(name, alias);
    ok += 1;
  });
  return ok;
}

runWithBenchServer('verify', { workers: 1 }, async ({ server, proxy }) => {
  const files = generatedPromptFiles(COUNT);
  const writer = createRegistryClient({ trackingUri: server.url });
  await inBatches(files, 4, (file) => registerPromptFile(writer, file, { naming: {} }));
  const names = files.map((f) => f.name);
  process.stderr.write(`[bench] ${COUNT} prompts registered; ${ROUNDS} rounds\n`);

  const registry = createRegistryClient({ trackingUri: proxy.url });
  const ours: { ms: number; requests: number }[] = [];
  const theirs: { ms: number; requests: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so that neither always finds the server warmer.
    const order = round % 2 === 0 ? ['ours', 'per-alias'] : ['per-alias', 'ours'];
    for (const which of order) {
      proxy.take();
      const started = performance.now();
      if (which === 'ours') {
        const result = await verifyPrompts(registry, {
          naming: {},
          contract: BUILT_IN_CONTRACT,
          prompts: names,
        });
        if (!result.ok || result.checks.filter((c) => c.code === 'OK').length !== COUNT * ALIASES.length) {
          throw new Error(`verify did not find every alias ok: ${JSON.stringify(result.checks.slice(0, 3))}`);
        }
        ours.push({ ms: performance.now() - started, requests: proxy.take().length });
      } else {
        if ((await perAlias(registry, names)) !== COUNT * ALIASES.length)
          throw new Error('an alias did not resolve');
        theirs.push({ ms: performance.now() - started, requests: proxy.take().length });
      }
    }
  }
  const row = (label: string, runs: { ms: number; requests: number }[]) =>
    `${label.padEnd(52)} ${String(median(runs.map((r) => r.requests))).padStart(8)} ${ms(median(runs.map((r) => r.ms))).padStart(10)}`;
  const oursMs = median(ours.map((r) => r.ms));
  const theirsMs = median(theirs.map((r) => r.ms));
  const oursRequests = median(ours.map((r) => r.requests));
  process.stdout.write(
    [
      '',
      `verify: ${COUNT} prompts x ${ALIASES.length} aliases, one local MLflow (1 worker), ${ROUNDS} rounds, medians`,
      `${'subject'.padEnd(52)} ${'requests'.padStart(8)} ${'wall ms'.padStart(10)}`,
      row('ours (lib/verify: one search, one batched resolve)', ours),
      row(`per alias (resolveAlias each, ${IN_FLIGHT} in flight)`, theirs),
      `per-alias / ours: ${(theirsMs / oursMs).toFixed(1)}x the wall time, ${(median(theirs.map((r) => r.requests)) / oursRequests).toFixed(1)}x the requests`,
      '',
      `${oursRequests <= COUNT + 1 ? 'PASS' : 'FAIL'}  verify requests <= prompts + 1 (${COUNT + 1}): ${oursRequests}`,
      '',
    ].join('\n'),
  );
});
