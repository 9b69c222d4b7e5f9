/** Talks to test/support/oracle.py: MLflow's Python SDK, one process per test file. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { venvBin } from './servers';

export class OracleError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
  ) {
    super(`${errorCode}: ${message}`);
  }
}

export interface Oracle {
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

/** `env` adds to (or, set to '', removes from) the SDK's environment: Databricks settings, for one. */
export function startOracle(trackingUri?: string, env: Readonly<Record<string, string>> = {}): Oracle {
  const child: ChildProcessWithoutNullStreams = spawn(venvBin('python'), ['test/support/oracle.py'], {
    env: {
      ...process.env,
      ...(trackingUri ? { MLFLOW_TRACKING_URI: trackingUri } : {}),
      // Every load must reach the server, as ours does.
      MLFLOW_ALIAS_PROMPT_CACHE_TTL_SECONDS: '0',
      MLFLOW_VERSION_PROMPT_CACHE_TTL_SECONDS: '0',
      PYTHONUNBUFFERED: '1',
      ...env,
    },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let queue: Promise<unknown> = Promise.resolve();

  function call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const next = queue.then(async () => {
      child.stdin.write(`${JSON.stringify({ op, ...args })}\n`);
      const line = await lines.next();
      if (line.done) throw new Error(`oracle exited; stderr: ${stderr}`);
      const answer = JSON.parse(line.value) as {
        ok: boolean;
        result?: T;
        error_code?: string;
        message?: string;
      };
      if (!answer.ok) throw new OracleError(answer.error_code ?? 'UNKNOWN', answer.message ?? '');
      return answer.result as T;
    });
    queue = next.catch(() => undefined);
    return next;
  }

  return {
    call,
    close: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}
