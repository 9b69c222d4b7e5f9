/**
 * The main job on the embedded default: a local MLflow server (SQLite under .local/, kept between
 * runs) and the local AWS emulator; the files in prompts/ uploaded to S3 and registered by the
 * register function, as in a deployed stack; a summary and the addresses. Then it keeps running
 * until interrupted and stops what it started. `--once` registers and exits (the smoke test).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatSummary } from '../lib/cli/summary';
import { isPromptOpsError } from '../lib/errors';
import { listPromptFiles } from '../lib/prompts/directory';
import { freePort, type RunningServer, startMlflow, startMoto } from '../test/support/servers';
import { LOCAL_BUCKET, LOCAL_PREFIX, LOCAL_SECRET_ID, registerThroughS3 } from './through-s3';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { once: { type: 'boolean' }, port: { type: 'string' }, data: { type: 'string' } },
});

async function portToUse(): Promise<number> {
  if (values.port) return Number(values.port);
  // 5000 is MLflow's usual port; take it when free so the UI address stays the same across runs.
  const probe = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const server = probe.createServer();
    server.once('error', () => resolve(false));
    server.listen(5000, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  return free ? 5000 : freePort();
}

const dataDir = values.data ?? join(process.cwd(), '.local');
const mlflowDir = join(dataDir, 'mlflow');
const motoDir = join(dataDir, 'moto');
mkdirSync(mlflowDir, { recursive: true });
mkdirSync(motoDir, { recursive: true });
// Ctrl-C at any point stops what was started: the servers run in process groups of their own,
// which the terminal's interrupt does not reach.
const started: RunningServer[] = [];
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
  });
  process.stdout.write(
    `Uploaded ${files.length} file(s) to s3://${LOCAL_BUCKET}/${LOCAL_PREFIX} and ran the register function:\n\n`,
  );
  process.stdout.write(`${formatSummary(rows)}\n`);
  for (const row of rows) if (row.status === 'failed') process.stdout.write(`  ${row.name}: ${row.reason}\n`);
  if (rows.some((row) => row.status === 'failed')) exitCode = 1;
  const example = rows.find((row) => row.status !== 'failed')?.name ?? 'orchestrator';
  process.stdout.write(
    `\nMLflow UI:          ${mlflow.url}/#/prompts\n` +
      `Local AWS (moto):   ${moto.url} (bucket ${LOCAL_BUCKET}, secret ${LOCAL_SECRET_ID})\n` +
      `Function log:       ${logFile}\n` +
      `Try:                MLFLOW_TRACKING_URI=${mlflow.url} npx promptops show prompts:/${example}@staging\n`,
  );
  if (!values.once) {
    process.stdout.write('\nRunning; press Ctrl-C to stop.\n');
    await interrupted;
  }
} catch (error) {
  exitCode = 1;
  process.stderr.write(
    `start: ${isPromptOpsError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
  );
} finally {
  process.stdout.write('Stopping MLflow and the local AWS emulator ...\n');
  await stopAll();
}
process.exit(exitCode);
