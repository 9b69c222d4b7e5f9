/**
 * The main job on the embedded default: a local MLflow server (SQLite under .local/, kept between
 * runs), the prompts in prompts/ registered into it with the same core a deployed stack uses,
 * a summary, and the UI address; then it keeps running until interrupted and stops what it
 * started. `--once` registers and exits (used by the smoke test).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatSummary } from '../lib/cli/summary';
import { isPromptOpsError } from '../lib/errors';
import { loadPromptFiles } from '../lib/prompts/directory';
import { namingFromEnv } from '../lib/prompts/naming';
import { type RegisterOutcome, registerPromptFile } from '../lib/register/register-prompt-file';
import { createRegistryClient } from '../lib/registry';
import { freePort, startMlflow } from '../test/support/servers';

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

const dataDir = values.data ?? join(process.cwd(), '.local', 'mlflow');
mkdirSync(dataDir, { recursive: true });
process.stdout.write(`Starting MLflow (data in ${dataDir}) ...\n`);
const server = await startMlflow({ dataDir, port: await portToUse() });
let exitCode = 0;
try {
  const registry = createRegistryClient({ trackingUri: server.url });
  const files = await loadPromptFiles(positionals.length > 0 ? positionals : ['prompts']);
  const outcomes: RegisterOutcome[] = [];
  for (const file of files)
    outcomes.push(await registerPromptFile(registry, file, { naming: namingFromEnv(process.env) }));
  process.stdout.write(`${formatSummary(outcomes)}\n`);
  process.stdout.write(
    `\nMLflow UI: ${server.url}/#/prompts\nTry: MLFLOW_TRACKING_URI=${server.url} npx promptops show prompts:/${outcomes[0]?.name ?? 'orchestrator'}@production\n`,
  );
  if (!values.once) {
    process.stdout.write('\nRunning; press Ctrl-C to stop.\n');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
} catch (error) {
  exitCode = 1;
  process.stderr.write(
    `start: ${isPromptOpsError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
  );
} finally {
  process.stdout.write('Stopping MLflow ...\n');
  await server.stop();
}
process.exit(exitCode);
