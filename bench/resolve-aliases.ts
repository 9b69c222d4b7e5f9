import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import * as z from 'zod';
import { loadPromptFiles } from '../lib/prompts/directory';
import type { PromptFile } from '../lib/prompts/file';
import { createRegistryClient, type JsonObject, type PromptVersion } from '../lib/registry';
import type { PyJsonValue } from '../lib/util/python-json';
import { runWithBenchServer } from './support/bench-server';
import type { CountingProxy, SeenRequest } from './support/counting-proxy';
import { median, ms, table } from './support/process-timing';
import { PYTHON_ATTRIBUTION_PRELUDE, runSdkScript } from './support/python-attribution';
import { waitForQuietServer } from './support/quiet';

const ALIAS = 'production';
/** BENCH_ROUNDS overrides the number of rounds. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 5);
const SERVER_WORKERS = Math.max(1, Number(process.env.BENCH_SERVER_WORKERS) || 1);
const TARGET_REQUESTS_PER_LOAD = 1;
const TARGET_SPEEDUP = 10;

const root = process.cwd();
/** The prompt files to resolve; BENCH_PROMPTS_DIR points at another directory of them. */
const promptsDir = process.env.BENCH_PROMPTS_DIR || join(root, 'prompts');
process.env.PROMPTOPS_VENV ??= join(root, '.venv');
// No usage reporting to the internet from the server or the SDK during a measurement.
process.env.MLFLOW_DISABLE_TELEMETRY ??= 'true';

// ---------------------------------------------------------------------------------------------
// The Python side: one fresh process per round.

/**
 * Times `import mlflow.genai`, then only the loop of 8 `load_prompt` calls. A request header
 * provider (MLflow's own extension point, called for every REST request) tags each request with
 * the phase and the sending thread, so the proxy can tell the loads from MLflow's background
 * threads (it links each loaded prompt to the active experiment in a thread of its own).
 */
const PYTHON_SCRIPT = `${PYTHON_ATTRIBUTION_PRELUDE}
uris = json.loads(sys.argv[1])
phase = "loop"
start = time.perf_counter()
loaded = [mlflow.genai.load_prompt(uri) for uri in uris]
wall_ms = (time.perf_counter() - start) * 1000
phase = "after"
print(json.dumps({
    "import_ms": import_ms,
    "wall_ms": wall_ms,
    "loaded": [{"name": p.name, "version": int(p.version)} for p in loaded],
}), flush=True)
`;

const pythonOutput = z.object({
  import_ms: z.number(),
  wall_ms: z.number(),
  loaded: z.array(z.object({ name: z.string(), version: z.number() })),
});

interface PythonSample {
  readonly wallMs: number;
  readonly importMs: number;
  /** Spawn to exit, as seen from here (interpreter start, import, loads, background threads). */
  readonly processMs: number;
  readonly seen: readonly SeenRequest[];
}

type RequestClass = 'load' | 'background' | 'outside loop';

function classify(request: SeenRequest): RequestClass {
  if (request.thread !== undefined && request.thread !== 'MainThread') return 'background';
  if (request.thread === 'MainThread' && request.phase === 'loop') return 'load';
  return 'outside loop';
}

async function runPython(
  proxy: CountingProxy,
  uris: readonly string[],
  expected: ExpectedVersions,
): Promise<PythonSample> {
  const { data, processMs, seen } = await runSdkScript({
    script: PYTHON_SCRIPT,
    cwd: root,
    args: [JSON.stringify(uris)],
    env: { MLFLOW_ALIAS_PROMPT_CACHE_TTL_SECONDS: '0', MLFLOW_VERSION_PROMPT_CACHE_TTL_SECONDS: '0' },
    proxy,
    schema: pythonOutput,
  });
  checkLoaded('Python SDK', data.loaded, expected);
  return { wallMs: data.wall_ms, importMs: data.import_ms, processMs, seen };
}

// ---------------------------------------------------------------------------------------------
// Our side.

type Mode = 'sequential' | 'concurrent' | 'batch';

interface OursSample {
  readonly wallMs: number;
  /** Requests the client says it sent (`client.requestCount`). */
  readonly clientRequests: number;
  /** Requests the proxy saw; undefined when run direct. */
  readonly proxyRequests: number | undefined;
}

/** Where our client sends its requests: through the counting proxy, or direct to MLflow. */
interface Route {
  readonly trackingUri: string;
  readonly proxy: CountingProxy | undefined;
}

async function runOurs(
  route: Route,
  uris: readonly string[],
  mode: Mode,
  expected: ExpectedVersions,
): Promise<OursSample> {
  // A new Agent: no pooled connection survives from an earlier round.
  const dispatcher = new Agent();
  const client = createRegistryClient({ trackingUri: route.trackingUri, dispatcher });
  route.proxy?.take();
  try {
    const before = client.requestCount;
    const start = performance.now();
    let loaded: PromptVersion[];
    if (mode === 'sequential') {
      loaded = [];
      for (const uri of uris) loaded.push(await client.loadPrompt(uri));
    } else if (mode === 'batch') {
      const names = uris.map((uri) => uri.slice('prompts:/'.length, uri.lastIndexOf('@')));
      loaded = await client.resolveAliases(names, ALIAS);
    } else {
      loaded = await Promise.all(uris.map((uri) => client.loadPrompt(uri)));
    }
    const wallMs = performance.now() - start;
    const clientRequests = client.requestCount - before;
    const proxyRequests = route.proxy?.take().length;
    checkLoaded(`promptops (${mode})`, loaded, expected);
    return { wallMs, clientRequests, proxyRequests };
  } finally {
    await dispatcher.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Setup: the 8 prompts, registered with our client, `production` on version 1.

type ExpectedVersions = ReadonlyMap<string, number>;

function checkLoaded(
  who: string,
  loaded: readonly { readonly name: string; readonly version: number }[],
  expected: ExpectedVersions,
): void {
  const got = loaded.map((p) => `${p.name}/${p.version}`).join(', ');
  const want = [...expected].map(([name, version]) => `${name}/${version}`).join(', ');
  if (got !== want) throw new Error(`${who} loaded [${got}], expected [${want}]`);
}

function toPyJson(value: unknown, where: string): PyJsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return value;
  if (Array.isArray(value)) return value.map((item: unknown, i) => toPyJson(item, `${where}[${i}]`));
  if (typeof value === 'object') {
    const out: Record<string, PyJsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[key] = toPyJson(item, `${where}.${key}`);
    return out;
  }
  throw new Error(`${where} is not a JSON value`);
}

function toJsonObject(
  value: Readonly<Record<string, unknown>> | undefined,
  where: string,
): JsonObject | undefined {
  if (value === undefined) return undefined;
  const out: Record<string, PyJsonValue> = {};
  for (const [key, item] of Object.entries(value)) out[key] = toPyJson(item, `${where}.${key}`);
  return out;
}

async function registerAll(trackingUri: string, files: readonly PromptFile[]): Promise<ExpectedVersions> {
  const dispatcher = new Agent();
  const client = createRegistryClient({ trackingUri, dispatcher });
  const expected = new Map<string, number>();
  try {
    for (const file of files) {
      const version = await client.registerPrompt({
        name: file.name,
        template: file.template,
        tags: file.tags,
        modelConfig: file.modelConfig,
        responseFormat: toJsonObject(file.responseFormat, `${file.source}: response_format`),
        commitMessage: file.commitMessage,
      });
      await client.setAlias(file.name, ALIAS, version.version);
      expected.set(file.name, version.version);
    }
    // One untimed pass, direct, so that no measured round pays for the server's first alias read.
    for (const file of files) await client.resolveAlias(file.name, ALIAS);
  } finally {
    await dispatcher.close();
  }
  return expected;
}

/** A second version of every prompt, leaving `production` on the first. */
async function addNewerVersions(trackingUri: string, files: readonly PromptFile[]): Promise<void> {
  const dispatcher = new Agent();
  const client = createRegistryClient({ trackingUri, dispatcher });
  try {
    for (const file of files) {
      await client.createPromptVersion({ name: file.name, template: [{ role: 'user', content: 'newer' }] });
    }
  } finally {
    await dispatcher.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Report.

const perPrompt = (requests: number, loads: number) => (requests / loads).toFixed(2);

function pythonRequestBreakdown(samples: readonly PythonSample[]): string {
  const keys = new Map<string, number[]>();
  samples.forEach((sample, round) => {
    for (const request of sample.seen) {
      const key = `${classify(request)}\t${request.method} ${request.path}`;
      const counts = keys.get(key) ?? samples.map(() => 0);
      counts[round] = (counts[round] ?? 0) + 1;
      keys.set(key, counts);
    }
  });
  const order: readonly RequestClass[] = ['load', 'background', 'outside loop'];
  const rows = [...keys]
    .map(([key, counts]) => {
      const [cls = '', request = ''] = key.split('\t');
      return { cls, request, counts };
    })
    .sort(
      (a, b) =>
        order.indexOf(a.cls as RequestClass) - order.indexOf(b.cls as RequestClass) ||
        a.request.localeCompare(b.request),
    )
    .map((r) => [`  ${r.cls}`, r.request, ...r.counts.map(String)]);
  const header = ['  sent by', 'request', ...samples.map((_, i) => `r${i + 1}`)];
  return table([header, ...rows], new Set(samples.map((_, i) => i + 2)));
}

async function main(): Promise<void> {
  const files = await loadPromptFiles([promptsDir]);
  const uris = files.map((f) => `prompts:/${f.name}@${ALIAS}`);
  const loads = uris.length;

  runWithBenchServer(
    'resolve-aliases',
    { workers: SERVER_WORKERS },
    async ({ server, proxy: counting, dataDir }) => {
      const expected = await registerAll(server.url, files);
      process.stderr.write(
        `[bench] ${loads} prompts registered with @${ALIAS}; counting proxy at ${counting.url}; ` +
          'waiting for the server to finish starting its background workers\n',
      );
      const quiet = await waitForQuietServer(dataDir);
      process.stderr.write(
        `[bench] ${quiet.quiet ? 'server quiet' : 'WARNING: server not quiet'} after ${(quiet.waitedMs / 1000).toFixed(0)} s (${quiet.detail})\n`,
      );

      const viaProxy: Route = { trackingUri: counting.url, proxy: counting };
      const direct: Route = { trackingUri: server.url, proxy: undefined };
      const sequential: OursSample[] = [];
      const concurrent: OursSample[] = [];
      const sequentialDirect: OursSample[] = [];
      const batch: OursSample[] = [];
      const batchBehind: OursSample[] = [];
      const python: PythonSample[] = [];
      for (let round = 1; round <= ROUNDS; round += 1) {
        // Alternate who goes first, so that drift on the machine does not favour either side.
        const ours = async () => {
          sequential.push(await runOurs(viaProxy, uris, 'sequential', expected));
          concurrent.push(await runOurs(viaProxy, uris, 'concurrent', expected));
          sequentialDirect.push(await runOurs(direct, uris, 'sequential', expected));
          batch.push(await runOurs(viaProxy, uris, 'batch', expected));
        };
        const sdk = async () => {
          python.push(await runPython(counting, uris, expected));
        };
        if (round % 2 === 1) {
          await ours();
          await sdk();
        } else {
          await sdk();
          await ours();
        }
        process.stderr.write(`[bench] round ${round}/${ROUNDS} done\n`);
      }

      // The batch's harder case: every prompt has a newer version than its production one, so the
      // production versions need a second search. (The per-prompt rows do not depend on this.)
      await addNewerVersions(server.url, files);
      for (let round = 1; round <= ROUNDS; round += 1) {
        batchBehind.push(await runOurs(viaProxy, uris, 'batch', expected));
      }

      const pythonMs = median(python.map((s) => s.wallMs));
      const count = (s: PythonSample, cls: RequestClass) => s.seen.filter((r) => classify(r) === cls).length;
      const pythonLoads = python.reduce((sum, s) => sum + count(s, 'load'), 0);
      const pythonBackground = python.reduce((sum, s) => sum + count(s, 'background'), 0);
      const pythonOutside = python.reduce((sum, s) => sum + count(s, 'outside loop'), 0);
      const allLoads = loads * ROUNDS;
      const range = (values: readonly number[]) => `${ms(Math.min(...values))}-${ms(Math.max(...values))}`;

      const oursRow = (label: string, samples: readonly OursSample[]) => {
        const proxied = samples.map((s) => s.proxyRequests);
        const counted = samples.reduce((sum, s) => sum + s.clientRequests, 0);
        const wall = median(samples.map((s) => s.wallMs));
        return [
          label,
          proxied.every((n) => n !== undefined)
            ? perPrompt(
                proxied.reduce((sum, n) => sum + n, 0),
                allLoads,
              )
            : '-',
          perPrompt(counted, allLoads),
          '-',
          ms(wall),
          range(samples.map((s) => s.wallMs)),
          `${(pythonMs / wall).toFixed(1)}x`,
        ];
      };
      const rows = [
        [
          'implementation',
          'req/prompt (proxy)',
          'req/prompt (client)',
          'background/prompt',
          `median ms (${loads})`,
          'min-max ms',
          'python/this',
        ],
        oursRow('promptops loadPrompt, sequential', sequential),
        oursRow('promptops loadPrompt, Promise.all', concurrent),
        [
          'mlflow.genai.load_prompt (Python SDK)',
          perPrompt(pythonLoads, allLoads),
          '-',
          perPrompt(pythonBackground, allLoads),
          ms(pythonMs),
          range(python.map((s) => s.wallMs)),
          '1.0x',
        ],
        oursRow('(promptops sequential, direct, no proxy)', sequentialDirect),
        oursRow('promptops resolveAliases (one batch), @production = latest', batch),
        oursRow('promptops resolveAliases, @production behind latest', batchBehind),
      ];

      const out: string[] = [];
      out.push('');
      out.push(
        `Resolve ${loads} prompts by @${ALIAS}, cold, one local MLflow server (${server.url}), ` +
          `${ROUNDS} rounds; every measured request goes through one counting proxy unless marked direct`,
      );
      out.push(`prompts: ${files.map((f) => f.name).join(', ')}`);
      out.push(
        `machine: ${availableParallelism()} CPUs, load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} at the end; server ${quiet.quiet ? 'quiet' : 'NOT quiet'} before round 1`,
      );
      out.push('');
      out.push(table(rows, new Set([1, 2, 3, 4, 5, 6])));
      out.push('');
      out.push(
        `Python SDK, not in the times above: import mlflow.genai median ${ms(median(python.map((s) => s.importMs)))} ms; ` +
          `whole process (spawn to exit) median ${ms(median(python.map((s) => s.processMs)))} ms.`,
      );
      out.push(
        `Python SDK requests seen by the proxy, per round (load = main thread inside the timed loop; ` +
          `background = MLflow's own threads; outside loop = ${pythonOutside} in all):`,
      );
      out.push(pythonRequestBreakdown(python));
      out.push('');

      // Every round of ours, proxied or direct, must have sent exactly one request per load, and
      // the proxy must have seen exactly what the client counted.
      const oursAll = [...sequential, ...concurrent, ...sequentialDirect, ...batch, ...batchBehind];
      const perRound = oursAll.map((s) => (s.proxyRequests ?? s.clientRequests) / loads);
      const onePerLoad =
        [...sequential, ...concurrent, ...sequentialDirect].every(
          (s) => s.clientRequests === loads * TARGET_REQUESTS_PER_LOAD,
        ) &&
        batch.every((s) => s.clientRequests === 1) &&
        batchBehind.every((s) => s.clientRequests === 2) &&
        oursAll.every((s) => s.proxyRequests === undefined || s.proxyRequests === s.clientRequests);
      const sequentialMs = median(sequential.map((s) => s.wallMs));
      const concurrentMs = median(concurrent.map((s) => s.wallMs));
      const sequentialSpeedup = pythonMs / sequentialMs;
      const speedup = pythonMs / concurrentMs;
      out.push(
        `${onePerLoad ? 'PASS' : 'FAIL'}  ${TARGET_REQUESTS_PER_LOAD} request per alias load: promptops ` +
          `${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)} per prompt over ${oursAll.length} batches ` +
          `(proxy count = client.requestCount: ${oursAll.every((s) => s.proxyRequests === undefined || s.proxyRequests === s.clientRequests) ? 'yes' : 'no'}); ` +
          `Python SDK ${perPrompt(pythonLoads, allLoads)} per prompt` +
          (pythonBackground > 0 ? ` + ${perPrompt(pythonBackground, allLoads)} in background` : ''),
      );
      out.push(
        `${speedup >= TARGET_SPEEDUP ? 'PASS' : 'FAIL'}  >=${TARGET_SPEEDUP}x less wall time for the batch: ` +
          `${ms(pythonMs)} ms / ${ms(concurrentMs)} ms = ${speedup.toFixed(1)}x (medians, both through the proxy, ours concurrent; ` +
          `sequential: ${ms(sequentialMs)} ms = ${sequentialSpeedup.toFixed(1)}x)`,
      );
      const batchMs = median(batch.map((s) => s.wallMs));
      const batchBehindMs = median(batchBehind.map((s) => s.wallMs));
      out.push(
        `${pythonMs / batchBehindMs >= TARGET_SPEEDUP ? 'PASS' : 'FAIL'}  >=${TARGET_SPEEDUP}x with the batch resolver ` +
          `(resolveAliases, what the agent uses): ${ms(pythonMs)} ms / ${ms(batchBehindMs)} ms = ` +
          `${(pythonMs / batchBehindMs).toFixed(1)}x with production behind latest everywhere (2 requests); ` +
          `${(pythonMs / batchMs).toFixed(1)}x when production is the latest version (1 request)`,
      );
      process.stdout.write(`${out.join('\n')}\n`);
    },
  );
}

void main();
