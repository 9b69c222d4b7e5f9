/**
 * Benchmark: one prediction's prompt loading and trace export, ours against the seed's approach,
 * side by side in one run against one fresh local MLflow server.
 *
 * - The seed's: a fresh Python process per round, MLflow's SDK as the seed uses it: inside
 *   `mlflow.start_span("agent_predict", AGENT)`, eight `mlflow.genai.load_prompt("prompts:/<name>@production")`
 *   and `mlflow.update_current_trace(tags=...)`. The model is taken as zero-latency: no model call
 *   at all inside the span. Timed: the `with` block, then until MLflow's own exit handler has
 *   flushed its trace export queue (the trace is exported in the background, at the latest
 *   there), then until the process has exited.
 * - Ours: `createPredictService` as the Lambda builds it, the registry through the counting proxy,
 *   the deterministic model stand-in (zero latency) for the model. Per round: a fresh service
 *   (fresh cache, fresh connection pool) for one cold predict on prompts never used before, a
 *   second predict on it within the TTL (warm), and another fresh service on the same prompts
 *   (cold again, prompts already in use). Timed through the service's tracer (a wrapper that
 *   notes when its spans run; no lib change): the `load_prompts` span, the agent's part (the
 *   stand-in's model calls), and the export phase (root span ended to predict returned: the
 *   trace's spans, its prompt links, the experiment tag on the prompts).
 *
 * Every measured registry request goes through one counting proxy; the Python side tags each of
 * its requests with its phase and thread. After each run, one long-lived Python SDK process
 * (test/support/oracle.py, straight to the server) checks that the trace is stored and findable by
 * each of its eight prompt versions (`search_traces("prompt = 'name/version'")`).
 *
 * Fresh prompt names per round and per side keep both sides' first loads cold and apart. The
 * report exits 0 whether or not the targets are met; non-zero only when it could not run.
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import * as z from 'zod';
import type { AgentInput } from '../lib/agent/chat-agent';
import { agentPrompts } from '../lib/agent/contract';
import { type ChatModel, createChatModel } from '../lib/model/chat-model';
import { createPredictService, type PredictService } from '../lib/predict/service';
import { type PredictSettings, predictSettings, predictSettingsSchema } from '../lib/predict/settings';
import { loadPromptFiles } from '../lib/prompts/directory';
import type { PromptFile } from '../lib/prompts/file';
import { registerPromptFile } from '../lib/register/register-prompt-file';
import { createRegistryClient, type RegistryClient, type VersionRef } from '../lib/registry';
import { deadlineIn } from '../lib/runtime/deadline';
import { createTracer, type Tracer } from '../lib/tracing/recorder';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../local/model-standin';
import { capture } from '../test/support/capture';
import { type Oracle, startOracle } from '../test/support/oracle';
import { warmTraceIngestion } from '../test/support/servers';
import { runWithBenchServer } from './support/bench-server';
import type { CountingProxy, SeenRequest } from './support/counting-proxy';
import { median, ms, table } from './support/process-timing';
import { PYTHON_ATTRIBUTION_PRELUDE, runSdkScript } from './support/python-attribution';
import { type QuietResult, waitForQuietServer } from './support/quiet';

/** BENCH_ROUNDS overrides the number of rounds. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 5);
const SERVER_WORKERS = Math.max(1, Number(process.env.BENCH_SERVER_WORKERS) || 1);
const ALIAS = 'production';
const TARGET_COLD_LOAD_REQUESTS = 2;
const TARGET_WARM_LOAD_REQUESTS = 0;
const TARGET_SPEEDUP = 10;
const TARGET_FINDABLE_SHARE = 1;

const root = process.cwd();
process.env.PROMPTOPS_VENV ??= join(root, '.venv');
// No usage reporting to the internet from the server, the SDK or the checker during a measurement.
process.env.MLFLOW_DISABLE_TELEMETRY = 'true';

/** The question every predict answers (two domains: four model calls to the stand-in). */
const QUESTION: AgentInput = {
  query: 'Why did our DBU spend rise this week, and did any jobs fail?',
  history: [],
  conversationId: 'bench-conversation',
  userId: 'bench-user',
  data: { cost: { dbus_this_week: 1200, dbus_last_week: 800 } },
  domains: undefined,
};

const loadText = (load: readonly number[]) => load.map((l) => l.toFixed(2)).join(' ');
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const range = (values: readonly number[]) =>
  values.length === 0 ? '-' : `${ms(Math.min(...values))}-${ms(Math.max(...values))}`;
const pct = (part: number, whole: number) => (whole === 0 ? '-' : `${((100 * part) / whole).toFixed(0)} %`);
/** A count per run: the median, with the range when the runs differ. */
function countText(values: readonly number[]): string {
  if (values.length === 0) return '-';
  const low = Math.min(...values);
  const high = Math.max(...values);
  const mid = median(values);
  const midText = Number.isInteger(mid) ? String(mid) : mid.toFixed(1);
  return low === high ? midText : `${midText} (${low}-${high})`;
}

// ---------------------------------------------------------------------------------------------
// Requests: what loads the prompts, what records the trace.

type RequestKind = 'load' | 'trace' | 'other';

/** The path under the API root, trace ids as `{trace_id}` (one row per endpoint). */
const shortPath = (path: string) =>
  path.replace(/^\/api\/[0-9.]+\/mlflow\//, '').replace(/tr-[0-9a-f]{32}/g, '{trace_id}');

function kindOfPath(path: string): RequestKind {
  if (/^(registered-models\/(search|get|alias)|model-versions\/(search|get))$/.test(path)) return 'load';
  if (path === '/v1/traces' || path.startsWith('traces') || path === 'registered-models/set-tag') {
    return 'trace';
  }
  return 'other';
}

const kindOf = (request: SeenRequest) => kindOfPath(shortPath(request.path));
/** `GET registered-models/search`: the method and the path under the API root. */
const endpointOf = (request: SeenRequest) => `${request.method} ${shortPath(request.path)}`;
const kindOfEndpoint = (endpoint: string) => kindOfPath(endpoint.slice(endpoint.indexOf(' ') + 1));
const countKind = (seen: readonly SeenRequest[], kind: RequestKind) =>
  seen.filter((r) => kindOf(r) === kind).length;

// ---------------------------------------------------------------------------------------------
// The seed's side: one fresh Python process per round.

/**
 * The seed's predict without its model call. `report` is registered with atexit before MLflow
 * creates its trace export queue (at the first span), so it runs after MLflow's own exit handler
 * has flushed that queue: by then the SDK has done all it does to export the trace. It prints the
 * result then, and sets the phase to "exit" for whatever is still sent during the interpreter's
 * teardown.
 */
const SEED_SCRIPT = `${PYTHON_ATTRIBUTION_PRELUDE}
import atexit

names = json.loads(sys.argv[1])
keys = json.loads(sys.argv[2])
result = {"import_ms": import_ms, "mlflow_version": mlflow.__version__}


def report():
    global phase
    result["exported_ms"] = (time.perf_counter() - start) * 1000
    result["export_queue_alive"] = any(
        t.name == "MLflowTraceLoggingConsumer" and t.is_alive() for t in threading.enumerate()
    )
    phase = "exit"
    print(json.dumps(result), flush=True)


atexit.register(report)

phase = "span"
start_epoch_ms = time.time() * 1000
start = time.perf_counter()
with mlflow.start_span(name="agent_predict", span_type="AGENT") as span:
    loaded = [mlflow.genai.load_prompt(f"prompts:/{name}@${ALIAS}") for name in names]
    mlflow.update_current_trace(
        tags={"prompts_loaded": ",".join(keys), "prompt_catalog": "", "prompt_schema": ""}
    )
    # A zero-latency model: no model call at all.
span_ms = (time.perf_counter() - start) * 1000
phase = "after"
result.update(
    {
        "span_ms": span_ms,
        "start_epoch_ms": start_epoch_ms,
        "trace_id": span.trace_id,
        "loaded": [{"name": p.name, "version": int(p.version)} for p in loaded],
    }
)
`;

const seedOutput = z.object({
  import_ms: z.number(),
  mlflow_version: z.string(),
  span_ms: z.number(),
  exported_ms: z.number(),
  export_queue_alive: z.boolean(),
  start_epoch_ms: z.number(),
  trace_id: z.string(),
  loaded: z.array(z.object({ name: z.string(), version: z.number() })),
});

interface SeedSample {
  readonly round: number;
  readonly traceId: string;
  readonly versions: readonly VersionRef[];
  /** Entering the span to the end of the `with` block: the eight loads (no model). */
  readonly spanMs: number;
  /** Entering the span to the end of MLflow's exit flush of its trace export queue. */
  readonly exportedMs: number;
  /** Entering the span to the process's exit (seen here when its pipes closed). */
  readonly exitMs: number;
  readonly importMs: number;
  readonly processMs: number;
  readonly exportQueueAlive: boolean;
  readonly mlflowVersion: string;
  readonly seen: readonly SeenRequest[];
  readonly problems: readonly string[];
}

/** The Python process running now, to stop it if the benchmark is interrupted. */
let runningChild: ChildProcess | undefined;

async function runSeed(proxy: CountingProxy, round: number, prompts: RegisteredPrompts): Promise<SeedSample> {
  const { data, processMs, seen } = await runSdkScript({
    script: SEED_SCRIPT,
    cwd: root,
    args: [JSON.stringify(prompts.map((p) => p.name)), JSON.stringify(prompts.map((p) => p.key))],
    proxy,
    schema: seedOutput,
    track: (child) => {
      runningChild = child;
    },
  });
  const exitedEpochMs = performance.timeOrigin + performance.now();
  const problems = versionProblems(data.loaded, prompts);
  if (data.export_queue_alive) {
    problems.push("MLflow's trace export queue was still running when the exit time was taken");
  }
  return {
    round,
    traceId: data.trace_id,
    versions: data.loaded,
    spanMs: data.span_ms,
    exportedMs: data.exported_ms,
    exitMs: exitedEpochMs - data.start_epoch_ms,
    importMs: data.import_ms,
    processMs,
    exportQueueAlive: data.export_queue_alive,
    mlflowVersion: data.mlflow_version,
    seen,
    problems,
  };
}

/** Which thread sent a request, without the random suffix MLflow gives its helper threads. */
const threadLabel = (request: SeenRequest) =>
  request.thread === undefined ? '?' : request.thread.replace(/[-_][0-9a-f]{6,}$/, '').replace(/_\d+$/, '');

// ---------------------------------------------------------------------------------------------
// Our side.

type OursRun = 'cold' | 'warm' | 'cold, in use';

const OURS_RUNS: readonly OursRun[] = ['cold', 'warm', 'cold, in use'];

const OURS_LABEL: Readonly<Record<OursRun, string>> = {
  cold: 'ours cold: fresh service, prompts never used before',
  warm: 'ours warm: 2nd predict, same service, within TTL',
  'cold, in use': 'ours cold: fresh service, prompts already in use',
};

interface OursSample {
  readonly round: number;
  readonly run: OursRun;
  readonly traceId: string;
  readonly versions: readonly VersionRef[];
  /** predict called to predict returned. */
  readonly predictMs: number;
  /** The `load_prompts` span. */
  readonly loadMs: number;
  /** The `load_prompts` span's end to the root span's end: the agent, i.e. the stand-in's model calls. */
  readonly agentMs: number;
  /** The root span's end to predict returned: trace spans, prompt links, experiment tags. */
  readonly exportMs: number;
  readonly modelCalls: number;
  readonly seen: readonly SeenRequest[];
  readonly clientRequests: number;
  readonly problems: readonly string[];
}

/** When one child span of a trace ran, on this process's clock. */
interface SpanTiming {
  readonly name: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * `inner`, with the time of each child span (`inSpan`) and of the trace's finish (the root span's
 * end) kept, on `performance.now()`: the phases of a predict, without any change to the service.
 */
function observedTracer(inner: Tracer) {
  let spans: SpanTiming[] = [];
  let finishedAt: number | undefined;
  const tracer: Tracer = {
    startTrace(start) {
      const recorder = inner.startTrace(start);
      return {
        ...recorder,
        async inSpan(name, spanType, work, parent) {
          const startedAt = performance.now();
          try {
            return await recorder.inSpan(name, spanType, work, parent);
          } finally {
            spans.push({ name, startedAt, endedAt: performance.now() });
          }
        },
        finish(outputs, error) {
          const ended = recorder.finish(outputs, error);
          finishedAt = performance.now();
          return ended;
        },
      };
    },
  };
  return {
    tracer,
    /** What the last predict recorded; starts afresh. */
    take() {
      const taken = { spans, finishedAt };
      spans = [];
      finishedAt = undefined;
      return taken;
    },
  };
}

interface OursService {
  readonly service: PredictService;
  readonly client: RegistryClient;
  readonly observed: ReturnType<typeof observedTracer>;
  close(): Promise<void>;
}

/** A service as a fresh Lambda container has it: empty cache, no pooled registry connection. */
function freshService(
  trackingUri: string,
  settings: PredictSettings,
  prefix: string,
  model: ChatModel,
): OursService {
  const dispatcher = new Agent();
  const client = createRegistryClient({ trackingUri, dispatcher });
  const observed = observedTracer(createTracer({ content: settings.content }));
  const service = createPredictService({
    settings,
    naming: { prefix },
    registry: { withRegistry: (work) => work(client) },
    model: async () => model,
    snapshot: () => undefined,
    tracer: observed.tracer,
  });
  return { service, client, observed, close: () => dispatcher.close() };
}

async function runOurs(
  proxy: CountingProxy,
  ours: OursService,
  standin: ModelStandin,
  round: number,
  run: OursRun,
  prompts: RegisteredPrompts,
): Promise<OursSample> {
  const captured = capture('bench-predict');
  const context = { log: captured.log, metrics: captured.metrics, deadline: deadlineIn(30_000) };
  const clientBefore = ours.client.requestCount;
  const modelBefore = standin.requests.length;
  proxy.take();
  const started = performance.now();
  const answer = await ours.service.predict(QUESTION, context);
  const returnedAt = performance.now();
  // Let the proxy see the end of the last answer it forwarded.
  await new Promise((resolve) => setImmediate(resolve));
  const seen = proxy.take();
  context.metrics.flush();

  const problems: string[] = [];
  const observed = ours.observed.take();
  const loadSpan = observed.spans.find((s) => s.name === 'load_prompts');
  if (observed.finishedAt === undefined || loadSpan === undefined) {
    throw new Error(`round ${round}, ${run}: the trace's load_prompts span or its end was not seen`);
  }
  const wantSource = run === 'warm' ? 'cache' : 'registry';
  const versions: VersionRef[] = [];
  for (const p of answer.prompts) {
    if (p.source !== wantSource) problems.push(`${p.name} served from ${p.source}, expected ${wantSource}`);
    if (p.version !== null) versions.push({ name: p.name, version: p.version });
  }
  problems.push(...versionProblems(versions, prompts));
  const totals = captured.metricTotals();
  if (totals.TraceExported !== 1) problems.push('the trace was not exported (TraceExported metric)');
  for (const failed of ['PromptLinkFailed', 'PromptExperimentLinkFailed', 'TraceExportFailed'] as const) {
    if (totals[failed] !== undefined) problems.push(`${failed} ${totals[failed]}`);
  }
  return {
    round,
    run,
    traceId: answer.traceId,
    versions,
    predictMs: returnedAt - started,
    loadMs: loadSpan.endedAt - loadSpan.startedAt,
    agentMs: observed.finishedAt - loadSpan.endedAt,
    exportMs: returnedAt - observed.finishedAt,
    modelCalls: standin.requests.length - modelBefore,
    seen,
    clientRequests: ours.client.requestCount - clientBefore,
    problems,
  };
}

// ---------------------------------------------------------------------------------------------
// Setup: the eight prompts on names of their own, `production` on version 1.

interface RegisteredPrompt {
  readonly key: string;
  readonly name: string;
  readonly version: number;
}
type RegisteredPrompts = readonly RegisteredPrompt[];

function versionProblems(loaded: readonly VersionRef[], expected: RegisteredPrompts): string[] {
  const got = loaded
    .map((p) => `${p.name}/${p.version}`)
    .sort()
    .join(', ');
  const want = expected
    .map((p) => `${p.name}/${p.version}`)
    .sort()
    .join(', ');
  return got === want ? [] : [`loaded [${got}], expected [${want}]`];
}

async function registerAll(
  client: RegistryClient,
  files: readonly PromptFile[],
  prefix: string,
): Promise<RegisteredPrompts> {
  const registered: RegisteredPrompt[] = [];
  for (const file of files) {
    // As the register function does: each prompt listed on the experiment (0) when it is created.
    const outcome = await registerPromptFile(client, file, { naming: { prefix }, experimentId: '0' });
    registered.push({ key: file.name, name: outcome.name, version: outcome.version });
  }
  return registered;
}

// ---------------------------------------------------------------------------------------------
// Findable by prompt: checked with MLflow's own SDK, straight to the server (not counted).

interface Findability {
  readonly stored: boolean;
  /** How many of the trace's prompt versions find it. */
  readonly found: number;
  readonly of: number;
}

async function checkFindable(oracle: Oracle, traceId: string, versions: readonly VersionRef[]) {
  const trace = await oracle.call<{ state: string } | null>('get_trace', { trace_id: traceId });
  let found = 0;
  for (const { name, version } of versions) {
    const ids = await oracle.call<string[]>('traces_for_prompt', { name, version });
    if (ids.includes(traceId)) found += 1;
  }
  return { stored: trace !== null, found, of: versions.length } satisfies Findability;
}

const allFound = (f: Findability) => f.stored && f.of > 0 && f.found === f.of;

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  const benchStart = performance.now();
  const files = await loadPromptFiles([join(root, 'prompts')]);
  const keys = agentPrompts();
  const missing = keys.filter((key) => !files.some((f) => f.name === key));
  if (missing.length > 0) throw new Error(`prompts/ lacks the agent's ${missing.join(', ')}`);
  // The service's defaults, as a stage with no PREDICT_* variable set runs it.
  const settings = predictSettings(predictSettingsSchema.parse({}));

  const standin = await startModelStandin();
  const model = createChatModel({ baseUrl: standin.url, name: STANDIN_MODEL });
  const setupDispatcher = new Agent();
  let oracle: Oracle | undefined;
  const cleanup = async () => {
    runningChild?.kill('SIGTERM');
    // The checker's close waits for its exit, which never comes if it already died.
    const closeChecker = oracle?.close();
    await Promise.all([
      closeChecker &&
        Promise.race([closeChecker, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]),
      standin.stop(),
      setupDispatcher.close(),
    ]);
  };

  runWithBenchServer(
    'predict',
    { workers: SERVER_WORKERS, onCleanup: cleanup },
    async ({ server, proxy: counting, dataDir }) => {
      // Setup and checks go straight to the server, uncounted.
      const direct = createRegistryClient({ trackingUri: server.url, dispatcher: setupDispatcher });
      const checker = startOracle(server.url);
      oracle = checker;
      const warmStarted = performance.now();
      await warmTraceIngestion(server.url);
      process.stderr.write(
        `[bench] OTLP route warmed in ${((performance.now() - warmStarted) / 1000).toFixed(1)} s\n`,
      );

      const quiet = (): Promise<QuietResult> => waitForQuietServer(dataDir, { timeoutMs: 60_000 });
      const first = await quiet();
      process.stderr.write(
        `[bench] ${first.quiet ? 'server quiet' : 'WARNING: server not quiet'} after ${(first.waitedMs / 1000).toFixed(0)} s (${first.detail})\n`,
      );

      const oursRound = async (round: number, prompts: RegisteredPrompts, prefix: string) => {
        const samples: OursSample[] = [];
        const fresh = freshService(counting.url, settings, prefix, model);
        try {
          samples.push(await runOurs(counting, fresh, standin, round, 'cold', prompts));
          samples.push(await runOurs(counting, fresh, standin, round, 'warm', prompts));
        } finally {
          await fresh.close();
        }
        const again = freshService(counting.url, settings, prefix, model);
        try {
          samples.push(await runOurs(counting, again, standin, round, 'cold, in use', prompts));
        } finally {
          await again.close();
        }
        return samples;
      };

      // Untimed warm-up on names of its own: the server's first request on each route, our code's
      // first run and the checker's first searches are paid here, by no measured round.
      {
        const oursPrompts = await registerAll(direct, files, 'bench.warmup.ours.');
        const seedPrompts = await registerAll(direct, files, 'bench.warmup.seed.');
        for (const s of await oursRound(0, oursPrompts, 'bench.warmup.ours.')) {
          await checkFindable(checker, s.traceId, s.versions);
        }
        const seed = await runSeed(counting, 0, seedPrompts);
        await checkFindable(checker, seed.traceId, seed.versions);
        process.stderr.write('[bench] warm-up done\n');
      }

      const loadAtMeasureStart = loadavg();
      const ours: (OursSample & { findable: Findability; quietBefore: QuietResult })[] = [];
      const seed: (SeedSample & { findable: Findability; quietBefore: QuietResult })[] = [];
      for (let round = 1; round <= ROUNDS; round += 1) {
        const oursPrefix = `bench.r${round}.ours.`;
        const seedPrefix = `bench.r${round}.seed.`;
        const oursPrompts = await registerAll(direct, files, oursPrefix);
        const seedPrompts = await registerAll(direct, files, seedPrefix);
        const runOursSide = async () => {
          const quietBefore = await quiet();
          for (const sample of await oursRound(round, oursPrompts, oursPrefix)) {
            // Right after predict returned: no wait, no flush.
            const findable = await checkFindable(checker, sample.traceId, sample.versions);
            ours.push({ ...sample, findable, quietBefore });
          }
        };
        const runSeedSide = async () => {
          const quietBefore = await quiet();
          const sample = await runSeed(counting, round, seedPrompts);
          // The process has exited: whatever it did not send by then, it never will.
          const findable = await checkFindable(checker, sample.traceId, sample.versions);
          seed.push({ ...sample, findable, quietBefore });
        };
        // Alternate who goes first, so that drift on the machine does not favour either side.
        if (round % 2 === 1) {
          await runOursSide();
          await runSeedSide();
        } else {
          await runSeedSide();
          await runOursSide();
        }
        const last = seed.at(-1);
        const cold = ours.find((s) => s.round === round && s.run === 'cold');
        process.stderr.write(
          `[bench] round ${round}/${ROUNDS}: seed ${ms(last?.exportedMs ?? Number.NaN)} ms to export ` +
            `(${last?.findable.found ?? 0}/${last?.findable.of ?? 0} prompt links found); ` +
            `ours cold ${ms((cold?.loadMs ?? Number.NaN) + (cold?.exportMs ?? Number.NaN))} ms load+export ` +
            `(${cold?.findable.found ?? 0}/${cold?.findable.of ?? 0})\n`,
        );
      }

      // A late look at every trace not findable right away: lost, or only late?
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const late = new Map<string, Findability>();
      for (const s of [...ours, ...seed]) {
        if (!allFound(s.findable)) late.set(s.traceId, await checkFindable(checker, s.traceId, s.versions));
      }
      const loadAtEnd = loadavg();

      // ---------------------------------------------------------------------------------------
      // Report.
      const out: string[] = [];
      const envPrefix = ['BENCH_ROUNDS', 'BENCH_SERVER_WORKERS']
        .filter((name) => process.env[name] !== undefined)
        .map((name) => `${name}=${process.env[name]} `)
        .join('');
      const mlflowVersion = seed[0]?.mlflowVersion ?? '?';
      const notQuiet = [...ours.filter((s) => s.run === 'cold'), ...seed].filter((s) => !s.quietBefore.quiet);
      out.push('');
      out.push(
        `Predict: load the agent's ${keys.length} prompts by @${ALIAS} and export the trace with its prompt links, ` +
          `ours against the seed's approach; one local MLflow ${mlflowVersion} server (${server.url}, ` +
          `${SERVER_WORKERS} uvicorn worker${SERVER_WORKERS > 1 ? 's' : ''}, SQLite)`,
      );
      out.push(`command: cd ${root} && ${envPrefix}npm run bench -- predict   (Node ${process.version})`);
      out.push(
        `machine: ${availableParallelism()} CPUs; load average ${loadText(loadAtStart)} at the start, ` +
          `${loadText(loadAtMeasureStart)} before round 1, ${loadText(loadAtEnd)} at the end; ` +
          `${ROUNDS} rounds, interleaved (odd rounds ours first); server quiet before ` +
          `${ours.filter((s) => s.run === 'cold').length + seed.length - notQuiet.length} of ` +
          `${ours.filter((s) => s.run === 'cold').length + seed.length} sides; bench took ` +
          `${((performance.now() - benchStart) / 1000).toFixed(0)} s`,
      );
      out.push(
        "seed = a fresh Python process per round: inside mlflow.start_span('agent_predict', AGENT), " +
          `${keys.length} x mlflow.genai.load_prompt('prompts:/<name>@${ALIAS}') and mlflow.update_current_trace(tags); ` +
          'ZERO-LATENCY MODEL ASSUMED: no model call at all inside the span. Loading+export = entering the span to the end of ' +
          "MLflow's exit flush of its trace export queue (the SDK exports the trace in the background; at the latest there).",
      );
      out.push(
        'ours = createPredictService (service defaults: TTL 60 s), registry through the counting proxy, the model stand-in ' +
          `(zero latency, ${countText(ours.map((s) => s.modelCalls))} model calls per predict). Loading+export = the ` +
          'load_prompts span + the export phase (root span ended to predict returned: spans over OTLP, prompt links, experiment ' +
          'tags), timed through the service\'s tracer; the model calls in between are left out. "cold" = a fresh service (empty cache, ' +
          'new connection pool) in this already-running Node process.',
      );
      out.push(
        'Each round registers the 8 prompts on fresh names per side, so every first load is cold; ours are registered as ' +
          'the register function registers them, listed on experiment 0 when created, so predict has no experiment tag to write ' +
          '(it writes one, once, for a prompt that lacks it).',
      );

      // Times.
      const seedLoadExport = seed.map((s) => s.exportedMs);
      const seedMs = median(seedLoadExport);
      const oursOf = (run: OursRun) => ours.filter((s) => s.run === run);
      const loadExport = (s: OursSample) => s.loadMs + s.exportMs;
      out.push('');
      out.push(`Time, medians over ${ROUNDS} rounds (ms)`);
      const timeHeader = [
        'side',
        'loading+export',
        'min-max',
        'seed/this',
        'loading',
        'agent (model)',
        'export',
        'whole predict',
      ];
      const timeRows: string[][] = [timeHeader];
      for (const run of OURS_RUNS) {
        const samples = oursOf(run);
        const le = median(samples.map(loadExport));
        timeRows.push([
          OURS_LABEL[run],
          ms(le),
          range(samples.map(loadExport)),
          `${(seedMs / le).toFixed(1)}x`,
          ms(median(samples.map((s) => s.loadMs))),
          ms(median(samples.map((s) => s.agentMs))),
          ms(median(samples.map((s) => s.exportMs))),
          ms(median(samples.map((s) => s.predictMs))),
        ]);
      }
      timeRows.push([
        'seed: fresh python, span entry to export flushed at exit',
        ms(seedMs),
        range(seedLoadExport),
        '1.0x',
        ms(median(seed.map((s) => s.spanMs))),
        'none',
        ms(median(seed.map((s) => s.exportedMs - s.spanMs))),
        `${ms(median(seed.map((s) => s.exitMs)))} to exit`,
      ]);
      out.push(table(timeRows, new Set([1, 2, 3, 4, 5, 6, 7])));
      out.push(
        `  seed: loading = the with block (${range(seed.map((s) => s.spanMs))}); export = its end to the end of ` +
          `MLflow's exit flush; to exit = span entry to the process gone. Not in these: import mlflow.genai ` +
          `${ms(median(seed.map((s) => s.importMs)))} ms, whole process (spawn to exit) ` +
          `${ms(median(seed.map((s) => s.processMs)))} ms.`,
      );
      const setTagsOf = (s: OursSample) =>
        s.seen.filter((r) => shortPath(r.path) === 'registered-models/set-tag' && r.durationMs !== undefined);
      const firstUse = oursOf('cold').filter((s) => setTagsOf(s).length > 0);
      if (firstUse.length > 0) {
        out.push(
          `  ours cold on prompts never used before: its export phase also sets MLflow's experiment tag on each prompt ` +
            `(once per prompt), ${countText(firstUse.map((s) => setTagsOf(s).length))} writes sent together; the last of ` +
            `them answered after ${ms(median(firstUse.map((s) => Math.max(...setTagsOf(s).map((r) => r.durationMs ?? 0)))))} ms ` +
            `(median over runs), against ${ms(median(oursOf('cold, in use').map((s) => s.exportMs)))} ms for the whole ` +
            'export phase on prompts in use.',
        );
      }

      // Requests.
      out.push('');
      out.push(
        'Registry requests per run at the counting proxy (load = registered-models/search|get|alias, model-versions/search|get; ' +
          'trace = /v1/traces, traces*, registered-models/set-tag)',
      );
      const requestHeader = ['side', 'runs', 'load', 'trace', 'other', 'total', 'client count = proxy'];
      const requestRows: string[][] = [requestHeader];
      for (const run of OURS_RUNS) {
        const samples = oursOf(run);
        requestRows.push([
          OURS_LABEL[run],
          String(samples.length),
          countText(samples.map((s) => countKind(s.seen, 'load'))),
          countText(samples.map((s) => countKind(s.seen, 'trace'))),
          countText(samples.map((s) => countKind(s.seen, 'other'))),
          countText(samples.map((s) => s.seen.length)),
          samples.every((s) => s.clientRequests === s.seen.length) ? 'yes' : 'no',
        ]);
      }
      requestRows.push([
        'seed (every thread, spawn to exit)',
        String(seed.length),
        countText(seed.map((s) => countKind(s.seen, 'load'))),
        countText(seed.map((s) => countKind(s.seen, 'trace'))),
        countText(seed.map((s) => countKind(s.seen, 'other'))),
        countText(seed.map((s) => s.seen.length)),
        '-',
      ]);
      out.push(table(requestRows, new Set([1, 2, 3, 4, 5])));

      // By endpoint.
      out.push('');
      out.push(
        'By endpoint, requests per run (median; range when the runs differ) and median answer time at the proxy',
      );
      const kindOrder: readonly RequestKind[] = ['load', 'trace', 'other'];
      const endpoints = [...new Set([...ours, ...seed].flatMap((s) => s.seen.map(endpointOf)))].sort(
        (a, b) =>
          kindOrder.indexOf(kindOfEndpoint(a)) - kindOrder.indexOf(kindOfEndpoint(b)) || a.localeCompare(b),
      );
      const sides: { label: string; samples: readonly { seen: readonly SeenRequest[] }[] }[] = [
        ...OURS_RUNS.map((run) => ({ label: `ours ${run}`, samples: oursOf(run) })),
        { label: 'seed', samples: seed },
      ];
      const endpointRows: string[][] = [
        ['  kind', 'request', ...sides.flatMap((side) => [side.label, 'ms'])],
        ...endpoints.map((endpoint) => [
          `  ${kindOfEndpoint(endpoint)}`,
          endpoint,
          ...sides.flatMap((side) => {
            const counts = side.samples.map((s) => s.seen.filter((r) => endpointOf(r) === endpoint).length);
            const durations = side.samples.flatMap((s) =>
              s.seen.filter((r) => endpointOf(r) === endpoint && r.durationMs !== undefined),
            );
            return counts.every((c) => c === 0)
              ? ['-', '-']
              : [countText(counts), ms(median(durations.map((r) => r.durationMs ?? Number.NaN)))];
          }),
        ]),
      ];
      out.push(table(endpointRows, new Set(sides.flatMap((_, i) => [2 + 2 * i, 3 + 2 * i]))));

      // The seed's requests by thread and phase.
      out.push('');
      out.push(
        "The seed's requests by sending thread and phase, per round (span = inside the with block; after = after it, " +
          "until MLflow's exit flush ended; exit = during the interpreter's teardown after that):",
      );
      const seedKeys = new Map<string, number[]>();
      seed.forEach((sample, index) => {
        for (const request of sample.seen) {
          const key = `${threadLabel(request)} [${request.phase ?? '?'}]\t${endpointOf(request)}`;
          const counts = seedKeys.get(key) ?? seed.map(() => 0);
          counts[index] = (counts[index] ?? 0) + 1;
          seedKeys.set(key, counts);
        }
      });
      const phaseOrder = ['setup', 'span', 'after', 'exit', '?'];
      const phaseOf = (key: string) => /\[(\w+|\?)\]/.exec(key)?.[1] ?? '?';
      const seedRows = [...seedKeys]
        .sort(
          ([a], [b]) => phaseOrder.indexOf(phaseOf(a)) - phaseOrder.indexOf(phaseOf(b)) || a.localeCompare(b),
        )
        .map(([key, counts]) => {
          const [sender = '', request = ''] = key.split('\t');
          return [`  ${sender}`, request, ...counts.map(String)];
        });
      out.push(
        table(
          [['  thread [phase]', 'request', ...seed.map((s) => `r${s.round}`)], ...seedRows],
          new Set(seed.map((_, i) => i + 2)),
        ),
      );

      // Findable by prompt.
      out.push('');
      out.push(
        'Findable by prompt: search_traces("prompt = \'name/version\'") for each of the 8 versions, with the Python SDK, ' +
          'right after predict returned (ours) or after the process exited (seed); not found ones looked at again ' +
          '2 s after the last round',
      );
      const findRows: string[][] = [
        ['side', 'runs', 'trace stored', 'findable by all 8', 'share', 'links found', 'later'],
      ];
      const findRow = (label: string, samples: readonly { traceId: string; findable: Findability }[]) => {
        const lateOnes = samples.filter((s) => late.has(s.traceId));
        const lateFound = lateOnes.filter((s) => {
          const again = late.get(s.traceId);
          return again !== undefined && allFound(again);
        }).length;
        findRows.push([
          label,
          String(samples.length),
          `${samples.filter((s) => s.findable.stored).length}/${samples.length}`,
          `${samples.filter((s) => allFound(s.findable)).length}/${samples.length}`,
          pct(samples.filter((s) => allFound(s.findable)).length, samples.length),
          `${sum(samples.map((s) => s.findable.found))}/${sum(samples.map((s) => s.findable.of))}`,
          lateOnes.length === 0
            ? '-'
            : `${lateFound} of ${lateOnes.length} found later (links ${sum(lateOnes.map((s) => late.get(s.traceId)?.found ?? 0))}/${sum(lateOnes.map((s) => s.findable.of))})`,
        ]);
      };
      for (const run of OURS_RUNS) findRow(OURS_LABEL[run], oursOf(run));
      findRow('seed', seed);
      out.push(table(findRows, new Set([1, 2, 3, 4, 5])));

      const problems = [
        ...ours.flatMap((s) => s.problems.map((p) => `ours ${s.run}, round ${s.round}: ${p}`)),
        ...seed.flatMap((s) => s.problems.map((p) => `seed, round ${s.round}: ${p}`)),
      ];
      if (problems.length > 0) {
        out.push('');
        out.push(
          `Unexpected outcomes (${problems.length}): ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? '; ...' : ''}`,
        );
      }
      out.push('');

      // Target 1: registry requests to load the 8 prompts, cold <= 2, warm 0, every round.
      const cold = oursOf('cold');
      const coldInUse = oursOf('cold, in use');
      const warm = oursOf('warm');
      const loadCounts = (samples: readonly OursSample[]) => samples.map((s) => countKind(s.seen, 'load'));
      const coldLoads = [...loadCounts(cold), ...loadCounts(coldInUse)];
      const warmLoads = loadCounts(warm);
      const sourcesOk = ours.every((s) => s.problems.length === 0);
      const requestsOk =
        coldLoads.every((n) => n <= TARGET_COLD_LOAD_REQUESTS) &&
        warmLoads.every((n) => n === TARGET_WARM_LOAD_REQUESTS) &&
        sourcesOk;
      out.push(
        `${requestsOk ? 'PASS' : 'FAIL'}  registry requests to load the ${keys.length} prompts: cold <= ${TARGET_COLD_LOAD_REQUESTS}, ` +
          `warm ${TARGET_WARM_LOAD_REQUESTS}: ours cold ${Math.min(...coldLoads)}-${Math.max(...coldLoads)} ` +
          `(${coldLoads.length} runs), warm ${Math.min(...warmLoads)}-${Math.max(...warmLoads)} (${warmLoads.length} runs)` +
          `${sourcesOk ? '' : ', and some runs were not as expected (above)'}; the seed ${countText(seed.map((s) => countKind(s.seen, 'load')))} per run`,
      );

      // Target 2: loading + export, seed / ours, for both cold cases.
      const coldMs = median(cold.map(loadExport));
      const coldInUseMs = median(coldInUse.map(loadExport));
      const warmMs = median(warm.map(loadExport));
      const seedSpanMs = median(seed.map((s) => s.spanMs));
      const speedupLine = (label: string, oursMs: number, extra: string) => {
        const speedup = seedMs / oursMs;
        out.push(
          `${speedup >= TARGET_SPEEDUP ? 'PASS' : 'FAIL'}  wall time of prompt loading plus trace export, seed / ours >= ` +
            `${TARGET_SPEEDUP}x, ${label}: ${ms(seedMs)} ms / ${ms(oursMs)} ms = ${speedup.toFixed(1)}x (medians${extra})`,
        );
      };
      speedupLine(
        'ours cold (fresh service) on prompts already in use',
        coldInUseMs,
        `; warm ${ms(warmMs)} ms = ${(seedMs / warmMs).toFixed(1)}x; the seed's with block alone, without its export, ` +
          `${ms(seedSpanMs)} ms = ${(seedSpanMs / coldInUseMs).toFixed(1)}x`,
      );
      speedupLine(
        `ours cold (fresh service) on prompts just registered (experiment-tag writes: ${countText(cold.map((s) => s.seen.filter((r) => shortPath(r.path) === 'registered-models/set-tag').length))})`,
        coldMs,
        `; the seed's with block alone ${(seedSpanMs / coldMs).toFixed(1)}x`,
      );

      // Target 3: findable by prompt, ours 100 %.
      const oursFound = ours.filter((s) => allFound(s.findable)).length;
      const oursShare = oursFound / ours.length;
      const seedFound = seed.filter((s) => allFound(s.findable)).length;
      out.push(
        `${oursShare >= TARGET_FINDABLE_SHARE ? 'PASS' : 'FAIL'}  share of runs whose trace is findable by each of its ` +
          `prompt versions, ours ${pct(TARGET_FINDABLE_SHARE, 1)}: ours ${oursFound}/${ours.length} = ${pct(oursFound, ours.length)} ` +
          `right after predict returned (cold, warm and cold in use); the seed, as measured: ${seedFound}/${seed.length} = ` +
          `${pct(seedFound, seed.length)} after its process exited (prompt links found ` +
          `${sum(seed.map((s) => s.findable.found))}/${sum(seed.map((s) => s.findable.of))}; traces stored ` +
          `${seed.filter((s) => s.findable.stored).length}/${seed.length})`,
      );
      process.stdout.write(`${out.join('\n')}\n`);
    },
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `[bench] predict failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
