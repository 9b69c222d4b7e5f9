/**
 * What assigning a request to an experiment's arm costs, side by side in one run: the bucket by
 * user (MurmurHash3 of the experiment id and the key), by request (a random draw), and, as the
 * floor, a request that is in no experiment at all (nothing to do). Reported per assignment in
 * nanoseconds, the median of several rounds, and as a ratio to the model call it sits beside
 * (a small model answers in about a second: a microsecond is a millionth of it).
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { assign } from '../lib/experiments/assignment';
import type { ExperimentDefinition } from '../lib/experiments/definition';
import { median, table } from './support/process-timing';

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS) || 7);
const PER_ROUND = 200_000;

const experiment: ExperimentDefinition = {
  id: 'orchestrator-tone',
  revision: 3,
  control: 'production',
  variants: [
    { alias: 'candidate', weight_bp: 1_000 },
    { alias: 'terse', weight_bp: 1_000 },
  ],
  key: 'user',
  status: 'running',
  started_at: '2026-12-01T00:00:00.000Z',
};
const users = Array.from({ length: 4_096 }, (_, i) => `user-${i}@example.com`);
const now = Date.parse('2026-12-06T00:00:00.000Z');

function nsPerCall(work: (i: number) => unknown): number {
  let sink = 0;
  const started = performance.now();
  for (let i = 0; i < PER_ROUND; i += 1) sink += (work(i) as { bucket?: number })?.bucket ?? 0;
  const elapsed = performance.now() - started;
  if (sink < 0) process.stdout.write(''); // keeps the loop's result alive
  return (elapsed * 1e6) / PER_ROUND;
}

const cases: [string, (i: number) => unknown][] = [
  ['no experiment (floor)', () => undefined],
  ['by user (hash)', (i) => assign(experiment, { userId: users[i & 4095], now })],
  ['by request (random)', () => assign({ ...experiment, key: 'request' }, { now })],
];
const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
// Interleaved rounds: a noisy neighbour slows every case alike.
for (let round = 0; round < ROUNDS + 1; round += 1) {
  for (const [name, work] of cases) {
    const ns = nsPerCall(work);
    if (round > 0) results.get(name)?.push(ns); // the first round warms the JIT
  }
}
const rows = cases.map(([name]) => {
  const ns = median(results.get(name) ?? []);
  return [name, ns.toFixed(1), (ns / 1e9).toExponential(1)];
});
process.stdout.write(
  `Experiment assignment, ${PER_ROUND.toLocaleString('en')} calls per round, median of ${ROUNDS} rounds (load ${loadavg()[0]?.toFixed(2)})\n`,
);
process.stdout.write(
  `${table([['case', 'ns per assignment', 'share of a 1 s model call'], ...rows], new Set([1, 2]))}\n`,
);
