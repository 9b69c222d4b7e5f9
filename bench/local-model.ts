/**
 * Benchmark: the local model (SmolLM2-135M, node-llama-cpp on the CPU) on the agent's own calls,
 * with the context's threads set to the cores available (what `npm start` does) side by side with
 * one thread, in the same interleaved rounds. Two calls: a worker's plain-text answer and the
 * classifier's JSON answer under its schema's grammar, each at the stack's 64-token cap.
 *
 * node-llama-cpp's own default thread count is probed once on a short answer only (8 tokens): it
 * oversubscribes a small machine (4 threads on 2 cores here) and a full answer takes minutes.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadPromptFiles } from '../lib/prompts/directory';
import { formatTemplate, templateText } from '../lib/prompts/template';
import { type ChatEngine, type EngineRequest, startLlamaEngine } from '../local/llama-engine';
import { ensureLocalModelFile, LOCAL_MAX_TOKENS } from '../local/local-model';
import { median, ms, table } from './support/process-timing';

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 3);
const QUESTION = 'Why did our DBU spend rise this week, and did any jobs fail?';

const [worker, classifier] = await loadPromptFiles([
  'prompts/cost_worker.md',
  'prompts/intent_classifier.md',
]);
if (!worker || !classifier?.responseFormat) throw new Error('the agent prompts are not where expected');
const calls: Record<string, EngineRequest> = {
  'worker (text)': {
    messages: [
      {
        role: 'user',
        content: formatTemplate(templateText(worker.template), {
          query: QUESTION,
          data: '{"dbus": [800, 1200]}',
        }),
      },
    ],
    maxTokens: LOCAL_MAX_TOKENS,
    temperature: 0,
  },
  'classifier (JSON schema)': {
    messages: [
      { role: 'user', content: formatTemplate(templateText(classifier.template), { query: QUESTION }) },
    ],
    maxTokens: LOCAL_MAX_TOKENS,
    temperature: 0,
    jsonSchema: classifier.responseFormat,
  },
};

const cores = availableParallelism();
const modelPath = await ensureLocalModelFile(join(process.cwd(), '.local'), (line) =>
  process.stderr.write(line),
);
const engines: [string, ChatEngine][] = [
  [`threads = ${cores} (cores)`, await startLlamaEngine({ modelPath, threads: cores })],
  ['threads = 1', await startLlamaEngine({ modelPath, threads: 1 })],
];
const samples = new Map<string, { ms: number[]; tokens: number[] }>();
let probe: { threads: number; ms: number; tokens: number } | undefined;
try {
  // One untimed call each: the grammar is built and the weights are paged in.
  for (const [, engine] of engines)
    for (const request of Object.values(calls)) await engine.complete(request);
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [call, request] of Object.entries(calls)) {
      for (const [setting, engine] of engines) {
        const started = performance.now();
        const answer = await engine.complete(request);
        const key = `${call}|${setting}`;
        const sample = samples.get(key) ?? { ms: [], tokens: [] };
        sample.ms.push(performance.now() - started);
        sample.tokens.push(answer.completionTokens);
        samples.set(key, sample);
      }
    }
  }
  // No thread count given: node-llama-cpp's default.
  const fallback = await startLlamaEngine({ modelPath, threads: 0 });
  try {
    const started = performance.now();
    const answer = await fallback.complete({ ...(calls['worker (text)'] as EngineRequest), maxTokens: 8 });
    probe = {
      threads: fallback.threads ?? 0,
      ms: performance.now() - started,
      tokens: answer.completionTokens,
    };
  } finally {
    await fallback.close();
  }
} finally {
  for (const [, engine] of engines) await engine.close();
}

const rows = [['call', 'threads', 'median ms', 'tokens', 'tokens/s', 'vs 1 thread']];
for (const call of Object.keys(calls)) {
  const one = median(samples.get(`${call}|threads = 1`)?.ms ?? []);
  for (const [setting] of engines) {
    const sample = samples.get(`${call}|${setting}`);
    if (!sample) continue;
    const time = median(sample.ms);
    const tokens = median(sample.tokens);
    rows.push([
      call,
      setting,
      ms(time),
      String(tokens),
      (tokens / (time / 1000)).toFixed(1),
      `${(one / time).toFixed(2)}x`,
    ]);
  }
}
if (probe) {
  const rate = probe.tokens / (probe.ms / 1000);
  const two = samples.get(`worker (text)|${engines[0]?.[0]}`);
  const ours = two ? median(two.tokens) / (median(two.ms) / 1000) : Number.NaN;
  rows.push([
    'worker (text), 8 tokens',
    `default (${probe.threads} threads)`,
    ms(probe.ms),
    String(probe.tokens),
    rate.toFixed(1),
    `${(ours / rate).toFixed(0)}x slower than cores`,
  ]);
}
process.stdout.write(
  `Local model ${modelPath.split('/').pop()} on ${cores} core(s), ${ROUNDS} rounds, max_tokens ${LOCAL_MAX_TOKENS}:\n\n${table(rows, new Set([2, 3, 4]))}\n`,
);
