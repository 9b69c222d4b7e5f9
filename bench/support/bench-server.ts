/**
 * The life of a benchmark against one fresh MLflow server: the server (data in a directory of
 * its own, so a signal during start-up still finds it), a counting proxy in front, cleanup once
 * whether a signal or the end of the run comes first, the data kept only when something failed,
 * and a non-zero exit with the error when the benchmark could not run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type RunningServer, startMlflow } from '../../test/support/servers';
import { type CountingProxy, startCountingProxy } from './counting-proxy';
import { killServerGroup } from './quiet';

export interface BenchServer {
  readonly server: RunningServer;
  readonly proxy: CountingProxy;
  readonly dataDir: string;
}

export interface BenchServerOptions {
  readonly workers: number;
  /** The benchmark's own cleanup (child processes, pools), run before the server stops. */
  readonly onCleanup?: () => unknown;
}

export function runWithBenchServer(
  name: string,
  options: BenchServerOptions,
  body: (bench: BenchServer) => Promise<void>,
): void {
  const dataDir = mkdtempSync(join(tmpdir(), 'promptops-bench-mlflow-'));
  let server: RunningServer | undefined;
  let proxy: CountingProxy | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      await options.onCleanup?.();
      await proxy?.close();
      if (server) await server.stop();
      else killServerGroup(dataDir);
    })();
    return cleaning;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const run = async () => {
    let completed = false;
    try {
      const started = performance.now();
      server = await startMlflow({ dataDir, workers: options.workers });
      process.stderr.write(
        `[bench] MLflow server up in ${((performance.now() - started) / 1000).toFixed(1)} s at ${server.url} (data in ${dataDir})\n`,
      );
      proxy = await startCountingProxy(server.url);
      await body({ server, proxy, dataDir });
      completed = true;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await cleanup();
      // The server's data and log are kept when something went wrong.
      if (completed) rmSync(dataDir, { recursive: true, force: true });
      else process.stderr.write(`[bench] the MLflow server's data and log are in ${dataDir}\n`);
    }
  };
  run().catch((error: unknown) => {
    process.stderr.write(
      `[bench] ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  });
}
