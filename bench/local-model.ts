/**
 * Benchmark: the local model (SmolLM2-135M, node-llama-cpp on the CPU) on the agent's own calls,
 * with the context's threads set to the cores available (what `npm start` does) side by side with
 * one thread, in the same interleaved rounds. Two calls: a worker's plain-text answer and the
 * classifier's JSON answer under its schema's grammar, each at the stack's 64-token cap.
 *
 * node-llama-cpp's own default is left out: on a 2-core machine it oversubscribes, and one
 * classifier answer took minutes with it (against under two seconds with two threads).
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
process.stdout.write(
  `Local model ${modelPath.split('/').pop()} on ${cores} core(s), ${ROUNDS} rounds, max_tokens ${LOCAL_MAX_TOKENS}:\n\n${table(rows, new Set([2, 3, 4, 5]))}\n`,
);
