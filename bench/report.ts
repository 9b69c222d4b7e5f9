/**
 * What judging a window costs: the report (lib/experiments/report.ts) over 20,000 observations per
 * arm, the bound the report and the rollout read to, by request (every request its own unit) and
 * by user (5,000 users making 4 requests each: the cluster bootstrap resamples users). The
 * rollout function judges every running rollout in one run of at most 300 s on 512 MB.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ExperimentDefinition } from '../lib/experiments/definition';
import { buildReport, DEFAULT_REPORT_OPTIONS, type Observation } from '../lib/experiments/report';
import { seeded } from '../lib/experiments/statistics';
import { median, table } from './support/process-timing';

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 3);
const PER_ARM = 20_000;

const definition: ExperimentDefinition = {
  id: 'bench',
  revision: 1,
  control: 'production',
  variants: [{ alias: 'candidate', weight_bp: 5_000 }],
  key: 'user',
  status: 'running',
  started_at: '2026-12-01T00:00:00.000Z',
};

function observations(perUnit: number): Observation[] {
  const random = seeded(9);
  return ['production', 'candidate'].flatMap((arm) =>
    Array.from({ length: PER_ARM }, (_, i) => ({
      arm,
      unit: `${arm}:${Math.floor(i / perUnit)}`,
      error: random() < 0.02,
      fallback: false,
      latencyMs: 200 + random() * 400,
      tokens: 700 + Math.floor(random() * 80),
      positive: random() < 0.3 ? random() < 0.7 : undefined,
    })),
  );
}

const cases: [string, Observation[]][] = [
  ['by request (20,000 units per arm)', observations(1)],
  ['by user (5,000 users x 4 requests)', observations(4)],
];
const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round += 1) {
  for (const [name, obs] of cases) {
    const started = performance.now();
    buildReport(definition, obs, DEFAULT_REPORT_OPTIONS);
    times.get(name)?.push(performance.now() - started);
  }
}
process.stdout.write(
  `The report over ${PER_ARM.toLocaleString('en')} observations per arm, 2 arms, 2,000 resamples, median of ${ROUNDS} (load ${loadavg()[0]?.toFixed(2)})\n` +
    `${table([['case', 'ms per report'], ...cases.map(([name]) => [name, median(times.get(name) ?? []).toFixed(0)])], new Set([1]))}\n`,
);
