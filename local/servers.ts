/**
 * Starting and stopping the real servers the integration tests (and the local run) use, on free
 * loopback ports, each in its own process group so that stopping it stops its workers too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupRuns } from './processes';

export function venvBin(name: string): string {
  const venv = process.env.PROMPTOPS_VENV ?? join(process.cwd(), '.venv');
  return join(venv, 'bin', name);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function waitForHttp(
  url: string,
  timeoutMs: number,
  child: ChildProcess,
  logFile: string,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error('interrupted while the server was starting');
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}; see ${logFile}`);
    try {
      const timeout = AbortSignal.timeout(2_000);
      const response = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server at ${url} did not come up within ${timeoutMs} ms; see ${logFile}`);
}

export interface RunningServer {
  readonly url: string;
  readonly dataDir: string;
  /** The id of the server's process group (its leader's pid), when it runs in a process of its own. */
  readonly group?: number | undefined;
  stop(): Promise<void>;
}

/**
 * SIGTERM to the child's process group (spawned `detached`), SIGKILL to the group after 5 s;
 * resolves once no process of the group is left (a server's workers may outlive their leader).
 */
export async function stopGroup(child: ChildProcess, graceMs = 5_000): Promise<void> {
  const group = child.pid;
  if (group === undefined) return;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-group, name);
    } catch {
      // already gone
    }
  };
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, graceMs))]);
  while (groupRuns(group)) {
    if (Date.now() >= deadline) {
      signal('SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await exited;
  // SIGKILL lands at once, but the processes are gone only once reaped: wait for that too.
  for (let i = 0; i < 50 && groupRuns(group); i += 1)
    await new Promise((resolve) => setTimeout(resolve, 100));
}

export interface MlflowServerOptions {
  readonly dataDir?: string;
  readonly port?: number;
  /** uvicorn worker processes (default 1). */
  readonly workers?: number;
  /** Run MLflow's basic-auth app with this admin password (at least 12 characters). */
  readonly adminPassword?: string;
  /** Aborting stops the server while it is still starting. */
  readonly signal?: AbortSignal;
  /** Told the server's process group as soon as it is spawned, before it is up. */
  readonly onSpawn?: (group: number) => void;
}

/** `mlflow server` with a SQLite store in a fresh directory (or `dataDir` when given). */
export async function startMlflow(options: MlflowServerOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'promptops-mlflow-'));
  const port = options.port ?? (await freePort());
  const logFile = join(dataDir, 'mlflow-server.log');
  const log = openSync(logFile, 'a');
  const authArgs: string[] = [];
  const authEnv: Record<string, string> = {};
  if (options.adminPassword !== undefined) {
    const ini = join(dataDir, 'basic_auth.ini');
    writeFileSync(
      ini,
      [
        '[mlflow]',
        'default_permission = READ',
        `database_uri = sqlite:///${join(dataDir, 'basic_auth.db')}`,
        'admin_username = admin',
        'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
        '',
      ].join('\n'),
    );
    authArgs.push('--app-name', 'basic-auth');
    authEnv.MLFLOW_AUTH_CONFIG_PATH = ini;
    authEnv.MLFLOW_AUTH_ADMIN_PASSWORD = options.adminPassword;
    authEnv.MLFLOW_FLASK_SERVER_SECRET_KEY = randomBytes(16).toString('hex');
  }
  const child = spawn(
    venvBin('mlflow'),
    [
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--backend-store-uri',
      `sqlite:///${join(dataDir, 'mlflow.db')}`,
      '--default-artifact-root',
      join(dataDir, 'artifacts'),
      '--workers',
      String(options.workers ?? 1),
      ...authArgs,
    ],
    {
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        ...authEnv,
        PYTHONUNBUFFERED: '1',
        // MLflow prices a model span's tokens from a model catalog it downloads per provider; with
        // no internet here, each download waits out its retries (7 s and more per provider) while
        // the trace is being stored. Empty: its bundled catalog only.
        MLFLOW_MODEL_CATALOG_URI: '',
      },
    },
  );
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/health`, 120_000, child, logFile, options.signal);
  } catch (error) {
    await stopGroup(child);
    throw error;
  }
  return { url, dataDir, group: child.pid, stop: () => stopGroup(child) };
}

/** moto's AWS API emulator (S3, Secrets Manager, ...) on a free loopback port. */
export async function startMoto(
  options: Pick<MlflowServerOptions, 'port' | 'dataDir' | 'signal' | 'onSpawn'> = {},
): Promise<RunningServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'promptops-moto-'));
  const port = options.port ?? (await freePort());
  const logFile = join(dataDir, 'moto-server.log');
  const log = openSync(logFile, 'a');
  const child = spawn(venvBin('moto_server'), ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/moto-api/`, 60_000, child, logFile, options.signal);
  } catch (error) {
    await stopGroup(child);
    throw error;
  }
  return { url, dataDir, group: child.pid, stop: () => stopGroup(child) };
}

/**
 * The AWS SDK's standard variables pointing every client at the emulator: the same code path as
 * in AWS, only the endpoints differ.
 */
export function awsEnvFor(motoUrl: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: motoUrl,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: motoUrl,
    AWS_ENDPOINT_URL_DYNAMODB: motoUrl,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
  };
}

/**
 * MLflow imports the parts of its OTLP route lazily: the first trace with a model span (token
 * usage, model name) and a session after a start took 7 to 8 s, a bare span 0.5 s. One throwaway
 * trace of the agent's shape, sent once at start, keeps that cost out of the tests' budgets.
 */
export async function warmTraceIngestion(mlflowUrl: string): Promise<void> {
  const { createTracer } = await import('../lib/tracing/recorder');
  const { ATTR, DEFAULT_CONTENT_POLICY } = await import('../lib/tracing/attributes');
  const { ProtobufTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  const { createRegistryClient } = await import('../lib/registry');
  const trace = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
    name: 'warm-up',
    spanType: 'AGENT',
    inputs: { messages: [{ role: 'user', content: 'warm-up' }] },
    tags: { warm_up: 'true' },
    attributes: { [ATTR.session]: 'warm-up', [ATTR.user]: 'warm-up' },
  });
  await trace.inSpan('model', 'CHAT_MODEL', async (span) => {
    span.setAttribute(ATTR.model, 'warm-up');
    span.setAttribute(ATTR.provider, 'openai');
    span.setInputs({ messages: [{ role: 'user', content: 'warm-up' }] });
    span.setOutputs({ choices: [{ message: { role: 'assistant', content: 'ok' } }] });
    span.setTokenUsage({ inputTokens: 1, outputTokens: 1, totalTokens: 2 });
  });
  const body = ProtobufTraceSerializer.serializeRequest(trace.finish(null));
  if (body === undefined) throw new Error('warm-up trace not serialised');
  await createRegistryClient({ trackingUri: mlflowUrl, timeoutMs: 60_000 }).logSpans('0', body);
}
