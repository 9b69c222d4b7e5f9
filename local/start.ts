/**
 * The main job on the embedded default, the whole stack on one machine: a local MLflow server
 * (SQLite under .local/, kept between runs), the local AWS emulator, and a real small model
 * (SmolLM2-135M on the CPU, behind an OpenAI-compatible endpoint; `--standin` swaps in the
 * deterministic stand-in). The files in prompts/ are uploaded to S3 and registered by the register
 * function, as in a deployed stack, and verify's checks run once. Then the HTTP API the stack
 * deploys is served by serverless-offline (promote and predict; the verify function runs on its
 * schedule there), saved prompt files are registered as they change, and everything runs until
 * Ctrl-C, which stops what was started. `--once` exits after registration and verify (scripts, CI).
 *
 * One stack per data folder: a second start names the running one and exits 0 (stack-state.ts).
 */
import { appendFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BUILT_IN_CONTRACT } from '../lib/agent/contract';
import { formatAliasMoves, formatSummary, type SummaryRow } from '../lib/cli/summary';
import { describeReport } from '../lib/cli/verify';
import { isPromptOpsError } from '../lib/errors';
import { listPromptFiles } from '../lib/prompts/directory';
import { namingFromEnv } from '../lib/prompts/naming';
import { createRegistryClient } from '../lib/registry';
import type { VerifyReport } from '../lib/verify/checks';
import { verifyThrough } from '../lib/verify/verify';
import { LOCAL_MAX_TOKENS, startLocalModel } from './local-model';
import { createLockTable } from './lock-table';
import { STANDIN_MODEL, startModelStandin } from './model-standin';
import { startOffline } from './offline';
import { processRef } from './processes';
import { freePort, type RunningServer, startMlflow, startMoto, warmTraceIngestion } from './servers';
import { claimStack, describeHolder } from './stack-state';
import { LOCAL_BUCKET, LOCAL_PREFIX, LOCAL_SECRET_ID, registerThroughS3 } from './through-s3';
import { type PromptWatch, watchPrompts } from './watch-prompts';

/** The caller the local promote API sees (`--local-principal`), allowed to move production. */
const LOCAL_ADMIN = 'arn:aws:iam::000000000000:user/local-admin';
const LOCAL_LOCK_TABLE = 'promptops-local-alias-locks';
const QUESTION = 'Why did our DBU spend rise this week?';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    once: { type: 'boolean' },
    standin: { type: 'boolean' },
    port: { type: 'string' },
    data: { type: 'string' },
    'verify-every': { type: 'string' },
  },
});
const verifyMinutes = Number(values['verify-every'] ?? '1');
if (!Number.isInteger(verifyMinutes) || verifyMinutes < 1 || verifyMinutes > 59) {
  process.stderr.write(
    `start: --verify-every takes whole minutes from 1 to 59, not '${values['verify-every']}'\n`,
  );
  process.exit(2);
}

/** `preferred` when it is free on loopback (addresses stay the same across runs), else a free port. */
async function portOr(preferred: number): Promise<number> {
  const probe = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const server = probe.createServer();
    server.once('error', () => resolve(false));
    server.listen(preferred, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  return free ? preferred : freePort();
}

const say = (text: string) => process.stdout.write(text);
const clock = () => new Date().toTimeString().slice(0, 8);

const dataDir = resolve(values.data ?? join(process.cwd(), '.local'));
const mlflowDir = join(dataDir, 'mlflow');
const motoDir = join(dataDir, 'moto');
mkdirSync(mlflowDir, { recursive: true });
mkdirSync(motoDir, { recursive: true });

const claimed = claimStack(dataDir);
if (!claimed.claimed) {
  say(describeHolder(claimed.holder, dataDir));
  // A script's `--once` did not register anything: that is not a success.
  process.exit(values.once ? 1 : 0);
}
const claim = claimed;
if (claim.stoppedLeftovers > 0)
  say(`Stopped ${claim.stoppedLeftovers} server(s) left running by a stack that did not stop cleanly.\n`);

// Ctrl-C at any point stops what was started: the servers run in process groups of their own,
// which the terminal's interrupt does not reach. A second Ctrl-C (or a crash) does not wait for
// them to stop in turn: it kills their groups at once, so nothing keeps holding the store.
const started: { stop(): Promise<void> }[] = [];
const track = <T extends { stop(): Promise<void> }>(server: T): T => {
  started.push(server);
  return server;
};
/** Every server's process group, recorded as soon as it is spawned (before it is up). */
const groups: number[] = [];
const spawned = (group: number) => {
  groups.push(group);
  claim.started([processRef(group)]);
};
const interrupt = new AbortController();
const interrupted = new Promise<void>((resolve) =>
  interrupt.signal.addEventListener('abort', () => resolve()),
);
function stopAtOnce(why: string, code: number): never {
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  claim.release();
  try {
    process.stderr.write(`start: ${why}; stopped everything at once\n`);
  } catch {
    // no terminal left to tell
  }
  process.exit(code);
}
// One signal sent to the whole process group (a supervisor's SIGTERM) arrives twice: directly and
// passed on by the wrapper (scripts/lib/run-ts.mjs). The same signal within this window is one.
const SAME_SIGNAL_MS = 250;
let lastSignal: { name: string; at: number } | undefined;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    const at = Date.now();
    const repeated = lastSignal?.name === signal && at - lastSignal.at < SAME_SIGNAL_MS;
    lastSignal = { name: signal, at };
    if (repeated) return;
    if (interrupt.signal.aborted) stopAtOnce(`${signal} again`, 130);
    interrupt.abort();
  });
}
process.on('uncaughtException', (error) => stopAtOnce(`unexpected error: ${error.message}`, 1));
process.on('unhandledRejection', (error) =>
  stopAtOnce(`unexpected error: ${(error as Error)?.message ?? error}`, 1),
);
const stopAll = async () => {
  const stopped = await Promise.allSettled(started.map((server) => server.stop()));
  for (const result of stopped)
    if (result.status === 'rejected')
      process.stderr.write(`start: stopping: ${(result.reason as Error)?.message}\n`);
};

interface Model extends RunningServer {
  readonly name: string;
  readonly real: boolean;
}

async function startModel(): Promise<Model> {
  if (values.standin) {
    const standin = await startModelStandin();
    return { ...standin, dataDir, name: STANDIN_MODEL, real: false };
  }
  // The model file is cached with the checkout (.local/models), whatever --data says: it is 94 MB.
  const model = await startLocalModel({
    cacheDir: join(process.cwd(), '.local'),
    port: await portOr(8080),
    log: say,
  });
  return { ...model, dataDir, name: model.model, real: true };
}

say(
  `Starting MLflow (data in ${mlflowDir}), the local AWS emulator${values.once ? '' : ` and ${values.standin ? 'the model stand-in' : 'the local model'}`} ...\n`,
);
const starting = await Promise.allSettled([
  startMlflow({
    dataDir: mlflowDir,
    port: values.port ? Number(values.port) : await portOr(5000),
    signal: interrupt.signal,
    onSpawn: spawned,
  }).then(track),
  startMoto({ dataDir: motoDir, signal: interrupt.signal, onSpawn: spawned }).then(track),
  // `--once` answers no question: no model.
  ...(values.once ? [] : [startModel().then(track)]),
]);
const failedStart = starting.find((result): result is PromiseRejectedResult => result.status === 'rejected');
if (failedStart || interrupt.signal.aborted) {
  await stopAll();
  claim.release();
  if (failedStart)
    process.stderr.write(`start: ${(failedStart.reason as Error)?.message ?? failedStart.reason}\n`);
  process.exit(interrupt.signal.aborted ? 130 : 1);
}
const [mlflow, moto, model] = starting.map((result) => (result as PromiseFulfilledResult<unknown>).value) as [
  RunningServer,
  RunningServer,
  Model | undefined,
];
const secretModel = model && { baseUrl: model.url, name: model.name };
/** Paths under the working directory relative to it, others as they are. */
const shown = (file: string) => {
  const inside = relative(process.cwd(), file);
  return inside === '' || inside.startsWith('..') ? file : inside;
};

let serving = false;
let exitCode = 0;
let watch: PromptWatch | undefined;
try {
  const inputs = positionals.length > 0 ? positionals : ['prompts'];
  const files = await listPromptFiles(inputs);
  const logFile = join(dataDir, 'register-function.log');
  writeFileSync(logFile, '');
  const register = (batch: readonly string[]) =>
    registerThroughS3({
      mlflowUrl: mlflow.url,
      motoUrl: moto.url,
      files: batch,
      log: (line) => appendFileSync(logFile, line),
      model: secretModel,
    });
  // Watching starts before the first upload, so a save from now on is never missed; what it
  // sees waits until that upload is done.
  let firstUploadDone = () => {};
  const firstUpload = new Promise<void>((resolve) => {
    firstUploadDone = resolve;
  });
  const watched = inputs.map((input) => resolve(input));
  const watchedDirs = watched.filter((input) => statSync(input).isDirectory());
  if (!values.once) {
    watch = await watchPrompts({
      dirs: watchedDirs,
      files: watched.filter((input) => !watchedDirs.includes(input)),
      known: files,
      onChange: async (change) => {
        await firstUpload;
        if (change.kind === 'deleted') {
          say(`[${clock()}] ${shown(change.file)} deleted: the registry keeps its versions and aliases\n`);
          return;
        }
        const [row] = await register([change.file]);
        if (row) say(`[${clock()}] ${shown(change.file)} saved: ${describeRow(row)}\n`);
        // Not registered: the same content saved again is tried again.
        return row?.status !== 'failed';
      },
      onError: (error) => say(`[${clock()}] watching prompts: ${(error as Error).message}\n`),
    });
  }
  let rows: SummaryRow[];
  try {
    interrupt.signal.throwIfAborted();
    rows = await register(files);
  } finally {
    firstUploadDone();
  }
  say(
    `Uploaded ${files.length} file(s) to s3://${LOCAL_BUCKET}/${LOCAL_PREFIX} and ran the register function:\n\n`,
  );
  say(`${formatSummary(rows)}\n`);
  for (const row of rows) if (row.status === 'failed') say(`  ${row.name}: ${row.reason}\n`);
  if (rows.some((row) => row.status === 'failed')) exitCode = 1;
  // The checks the scheduled verify function runs, once, as `promptops verify` prints them.
  interrupt.signal.throwIfAborted();
  const local = createRegistryClient({ trackingUri: mlflow.url });
  const verified = await verifyThrough(
    { withRegistry: (work) => work(local) },
    { naming: namingFromEnv(process.env), contract: BUILT_IN_CONTRACT },
  );
  say(`\nVerify (what the scheduled function checks):\n\n${describeReport(verified)}`);
  if (!verified.ok) exitCode = 1;
  const example = rows.find((row) => row.status !== 'failed')?.name ?? 'orchestrator';

  if (values.once) {
    say(
      `\nMLflow UI:          ${mlflow.url}/#/prompts\n` +
        `Local AWS (moto):   ${moto.url} (bucket ${LOCAL_BUCKET}, secret ${LOCAL_SECRET_ID})\n` +
        `Function log:       ${logFile}\n` +
        `Try:                MLFLOW_TRACKING_URI=${mlflow.url} npx promptops show prompts:/${example}@staging\n`,
    );
  } else if (model) {
    say('\nStarting the HTTP API (serverless-offline): promote, predict, and verify on its schedule ...\n');
    await createLockTable(new DynamoDBClient({}), LOCAL_LOCK_TABLE);
    // MLflow loads its trace ingestion lazily; one throwaway trace now spares the first answer.
    const warming = warmTraceIngestion(mlflow.url).catch(() => undefined);
    const { catalog, schema, prefix } = namingFromEnv(process.env);
    const naming = { promptCatalog: catalog, promptSchema: schema, promptNamePrefix: prefix };
    const apiLog = join(dataDir, 'http-api.log');
    writeFileSync(apiLog, '');
    const api = await startOffline({
      motoUrl: moto.url,
      secretId: LOCAL_SECRET_ID,
      lockTable: LOCAL_LOCK_TABLE,
      params: {
        promoterPrincipals: LOCAL_ADMIN,
        verifySchedule: `rate(${verifyMinutes} minute${verifyMinutes === 1 ? '' : 's'})`,
        // A small model is slow: each call's answer stays short enough for the function's 29 s.
        predictMaxTokens: String(model.real ? LOCAL_MAX_TOKENS : 512),
        // osls params cannot be empty: only the ones set are passed.
        ...Object.fromEntries(
          Object.entries(naming).filter((entry): entry is [string, string] => !!entry[1]),
        ),
      },
      httpPort: await portOr(3000),
      logFile: apiLog,
      onLine: scheduledVerify,
      onSpawn: spawned,
      signal: interrupt.signal,
    });
    track(api);
    serving = true;
    await warming;
    claim.running({ mlflow: mlflow.url, api: api.url, model: model.url, aws: moto.url });

    const env = [
      `MLFLOW_TRACKING_URI=${mlflow.url}`,
      `OPENAI_BASE_URL=${model.url}`,
      `PROMPTOPS_MODEL=${model.name}`,
      `PROMPTOPS_LOCAL_PRINCIPAL=${LOCAL_ADMIN}`,
      `PROMPTOPS_API_URL=${api.url}`,
    ];
    say(
      [
        '',
        `The local stack is up (pid ${process.pid}); Ctrl-C stops it.`,
        '',
        `  MLflow UI   ${mlflow.url}/#/prompts`,
        `  HTTP API    ${api.url}  (GET /prompts, GET /prompts/{name}, POST /prompts/{name}/promote and /rollback, POST /predict)`,
        `  Model       ${model.url}  ${model.real ? `${model.name}: a real 135M model on the CPU, at most ${LOCAL_MAX_TOKENS} tokens a call` : `${STANDIN_MODEL}: a deterministic stand-in, not a model`}`,
        `  Local AWS   ${moto.url}  (bucket ${LOCAL_BUCKET}, secret ${LOCAL_SECRET_ID}, local admin ${LOCAL_ADMIN})`,
        `  Logs        ${shown(logFile)} (register), ${shown(apiLog)} (HTTP API and verify)`,
        `  Watching    ${watched.map(shown).join(', ')}: a saved prompt file is registered and moves staging`,
        `  Verify      every ${verifyMinutes} minute(s), the scheduled function; its result prints here`,
        '',
        'Try, in another terminal:',
        `  export ${env.join(' ')}`,
        `  npx promptops predict --local --alias staging "${QUESTION}"   # in-process, on staging`,
        `  npx promptops promote ${example} --reason "tried on staging"`,
        `  npx promptops predict "${QUESTION}"   # through the API, on production`,
        '  npx promptops verify',
        `  npx promptops history ${example}`,
        '',
      ].join('\n'),
    );
    await interrupted;
  }
} catch (error) {
  if (interrupt.signal.aborted) exitCode = 130;
  else {
    exitCode = 1;
    process.stderr.write(
      `start: ${isPromptOpsError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
    );
  }
} finally {
  await watch?.stop();
  say(
    `Stopping ${serving ? 'the HTTP API, ' : ''}${model ? (model.real ? 'the local model, ' : 'the model stand-in, ') : ''}MLflow and the local AWS emulator ...\n`,
  );
  await stopAll();
  claim.release();
}
process.exit(exitCode);

function describeRow(row: SummaryRow): string {
  if (row.status === 'failed') return `not registered: ${row.code}: ${row.reason}`;
  if (row.status === 'unchanged') return `${row.name} unchanged (version ${row.version}), nothing registered`;
  return `registered ${row.name} version ${row.version}; ${formatAliasMoves(row.aliasesMoved)}`;
}

/** What the last scheduled run found failing, so that a failure that stays is not printed in full again. */
let lastFailing = '';

/** The verify function's log line, when serverless-offline runs it on its schedule. */
function scheduledVerify(line: string): void {
  if (!line.startsWith('{') || !line.includes('"verify ')) return;
  let entry: { function?: unknown; message?: unknown; ok?: unknown; checks?: unknown };
  try {
    entry = JSON.parse(line);
  } catch {
    return;
  }
  if (entry.function !== 'verify' || !Array.isArray(entry.checks) || typeof entry.ok !== 'boolean') return;
  const report = { ok: entry.ok, checks: entry.checks } as VerifyReport;
  if (report.ok) {
    lastFailing = '';
    const warned = report.checks
      .filter((c) => c.status === 'warn')
      .map((c) => `${c.prompt}${c.alias ? `@${c.alias}` : ''} ${c.code}`);
    say(
      `[${clock()}] verify (scheduled): passed, ${report.checks.length} checks${warned.length ? `; warnings: ${warned.join(', ')}` : ''}\n`,
    );
    return;
  }
  const failing = { ok: false, checks: report.checks.filter((c) => c.status !== 'ok') } as VerifyReport;
  const found = failing.checks.map((c) => `${c.prompt}@${c.alias ?? '-'} ${c.code}`).join(', ');
  if (found === lastFailing) {
    say(`[${clock()}] verify (scheduled): still failing: ${found}\n`);
    return;
  }
  lastFailing = found;
  say(
    `[${clock()}] verify (scheduled): FAILED; in AWS the VerifyFailures alarm fires\n${describeReport(failing)}`,
  );
}
