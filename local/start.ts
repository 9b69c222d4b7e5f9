/**
 * The main job on the embedded default: a local MLflow server (SQLite under .local/, kept between
 * runs) and the local AWS emulator; the files in prompts/ uploaded to S3 and registered by the
 * register function, as in a deployed stack; a summary, verify's checks once, and the addresses.
 * Then it serves the HTTP API through serverless-offline, the promote routes (the lock table in
 * the emulator, the local admin allowed to move protected aliases) and `POST /predict` (the agent,
 * answering with the deterministic model stand-in), and keeps running until interrupted, then
 * stops what it started. `--once` registers and exits (the smoke test), without the API.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BUILT_IN_CONTRACT } from '../lib/agent/contract';
import { formatSummary } from '../lib/cli/summary';
import { describeReport } from '../lib/cli/verify';
import { isPromptOpsError } from '../lib/errors';
import { listPromptFiles } from '../lib/prompts/directory';
import { namingFromEnv } from '../lib/prompts/naming';
import { createRegistryClient } from '../lib/registry';
import { verifyThrough } from '../lib/verify/verify';
import { createLockTable } from './lock-table';
import { STANDIN_MODEL, startModelStandin } from './model-standin';
import { startOffline } from './offline';
import { freePort, type RunningServer, startMlflow, startMoto, warmTraceIngestion } from './servers';
import { LOCAL_BUCKET, LOCAL_PREFIX, LOCAL_SECRET_ID, registerThroughS3 } from './through-s3';

/** The caller the local promote API sees (`--local-principal`), allowed to move production. */
const LOCAL_ADMIN = 'arn:aws:iam::000000000000:user/local-admin';
const LOCAL_LOCK_TABLE = 'promptops-local-alias-locks';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { once: { type: 'boolean' }, port: { type: 'string' }, data: { type: 'string' } },
});

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

async function portToUse(): Promise<number> {
  if (values.port) return Number(values.port);
  // 5000 is MLflow's usual port.
  return portOr(5000);
}

const dataDir = values.data ?? join(process.cwd(), '.local');
const mlflowDir = join(dataDir, 'mlflow');
const motoDir = join(dataDir, 'moto');
mkdirSync(mlflowDir, { recursive: true });
mkdirSync(motoDir, { recursive: true });
// Ctrl-C at any point stops what was started: the servers run in process groups of their own,
// which the terminal's interrupt does not reach.
const started: { stop(): Promise<void> }[] = [];
const interrupt = new AbortController();
const interrupted = new Promise<void>((resolve) =>
  interrupt.signal.addEventListener('abort', () => resolve()),
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => interrupt.abort());
const stopAll = () => Promise.all(started.map((server) => server.stop()));

process.stdout.write(`Starting MLflow (data in ${mlflowDir}) and the local AWS emulator ...\n`);
const starting = await Promise.allSettled([
  startMlflow({ dataDir: mlflowDir, port: await portToUse(), signal: interrupt.signal }),
  startMoto({ dataDir: motoDir, signal: interrupt.signal }),
]);
for (const result of starting) if (result.status === 'fulfilled') started.push(result.value);
const failedStart = starting.find((result): result is PromiseRejectedResult => result.status === 'rejected');
if (failedStart || interrupt.signal.aborted) {
  await stopAll();
  if (failedStart)
    process.stderr.write(`start: ${(failedStart.reason as Error)?.message ?? failedStart.reason}\n`);
  process.exit(interrupt.signal.aborted ? 130 : 1);
}
const [mlflow, moto] = started as [RunningServer, RunningServer];
// The model predict answers with here: a deterministic stand-in, labelled as such in its answers.
const standin = await startModelStandin();
started.push(standin);
let serving = false;
let exitCode = 0;
try {
  const files = await listPromptFiles(positionals.length > 0 ? positionals : ['prompts']);
  const logFile = join(dataDir, 'register-function.log');
  writeFileSync(logFile, '');
  const rows = await registerThroughS3({
    mlflowUrl: mlflow.url,
    motoUrl: moto.url,
    files,
    log: (line) => appendFileSync(logFile, line),
    model: { baseUrl: standin.url, name: STANDIN_MODEL },
  });
  process.stdout.write(
    `Uploaded ${files.length} file(s) to s3://${LOCAL_BUCKET}/${LOCAL_PREFIX} and ran the register function:\n\n`,
  );
  process.stdout.write(`${formatSummary(rows)}\n`);
  for (const row of rows) if (row.status === 'failed') process.stdout.write(`  ${row.name}: ${row.reason}\n`);
  if (rows.some((row) => row.status === 'failed')) exitCode = 1;
  // The checks the scheduled verify function runs, once, as `promptops verify` prints them.
  const local = createRegistryClient({ trackingUri: mlflow.url });
  const verified = await verifyThrough(
    { withRegistry: (work) => work(local) },
    { naming: namingFromEnv(process.env), contract: BUILT_IN_CONTRACT },
  );
  process.stdout.write(`\nVerify (what the scheduled function checks):\n\n${describeReport(verified)}`);
  const example = rows.find((row) => row.status !== 'failed')?.name ?? 'orchestrator';
  process.stdout.write(
    `\nMLflow UI:          ${mlflow.url}/#/prompts\n` +
      `Local AWS (moto):   ${moto.url} (bucket ${LOCAL_BUCKET}, secret ${LOCAL_SECRET_ID})\n` +
      `Function log:       ${logFile}\n` +
      `Try:                MLFLOW_TRACKING_URI=${mlflow.url} npx promptops show prompts:/${example}@staging\n`,
  );
  if (!values.once) {
    // The promote API as deployed (serverless.yml), served by serverless-offline; its functions
    // reach the secret and the lock table in moto. Protected aliases may be moved by LOCAL_ADMIN.
    process.stdout.write('\nStarting the HTTP API (serverless-offline): promote and predict ...\n');
    await createLockTable(new DynamoDBClient({}), LOCAL_LOCK_TABLE);
    // MLflow loads its trace ingestion lazily; one throwaway trace now spares the first answer.
    const warming = warmTraceIngestion(mlflow.url).catch(() => undefined);
    const { catalog, schema, prefix } = namingFromEnv(process.env);
    const naming = { promptCatalog: catalog, promptSchema: schema, promptNamePrefix: prefix };
    const promotable = rows.some((row) => row.name === 'orchestrator' && row.status !== 'failed')
      ? 'orchestrator'
      : example;
    const apiLog = join(dataDir, 'promote-api.log');
    writeFileSync(apiLog, '');
    const api = await startOffline({
      motoUrl: moto.url,
      secretId: LOCAL_SECRET_ID,
      lockTable: LOCAL_LOCK_TABLE,
      params: {
        promoterPrincipals: LOCAL_ADMIN,
        // osls params cannot be empty: only the ones set are passed.
        ...Object.fromEntries(
          Object.entries(naming).filter((entry): entry is [string, string] => !!entry[1]),
        ),
      },
      httpPort: await portOr(3000),
      logFile: apiLog,
      signal: interrupt.signal,
    });
    started.push(api);
    serving = true;
    await warming;
    process.stdout.write(
      `Promote API:        ${api.url} (GET /prompts, GET /prompts/{name}, POST .../promote, .../rollback)\n` +
        `Promote API log:    ${apiLog}\n` +
        `Local admin:        ${LOCAL_ADMIN} (may move production)\n` +
        `Promote:            npx promptops promote ${promotable} --api ${api.url} --local-principal ${LOCAL_ADMIN} --reason "tried it locally"\n` +
        `History:            npx promptops history ${promotable} --api ${api.url} --local-principal ${LOCAL_ADMIN}\n`,
    );
    process.stdout.write(
      `\nPredict API:        ${api.url}/predict (POST, a ChatAgentRequest or {"query": ...})\n` +
        `Model:              ${standin.url} (${STANDIN_MODEL}: a deterministic stand-in, not a model)\n` +
        `Ask the agent:      npx promptops predict "Why did our DBU spend rise this week?" --api ${api.url} --local-principal ${LOCAL_ADMIN}\n` +
        `In-process:         MLFLOW_TRACKING_URI=${mlflow.url} OPENAI_BASE_URL=${standin.url} PROMPTOPS_MODEL=${STANDIN_MODEL} npx promptops predict "Which jobs failed?" --local\n` +
        `Its traces:         ${mlflow.url}/#/experiments/0/traces (each prompt's Traces tab: ${mlflow.url}/#/experiments/0/prompts/${promotable})\n`,
    );
    process.stdout.write('\nRunning; press Ctrl-C to stop.\n');
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
  process.stdout.write(
    `Stopping ${serving ? 'the HTTP API, ' : ''}the model stand-in, MLflow and the local AWS emulator ...\n`,
  );
  await stopAll();
}
process.exit(exitCode);
