/**
 * The promote API served locally by serverless-offline (`osls offline start`, with the functions
 * built by serverless-esbuild as for a deploy), for the end-to-end test and `npm start`.
 *
 * How the functions are configured offline:
 * - Their environment is serverless.yml's, resolved by osls from the params given here (e.g.
 *   `promptNamePrefix`, `promoterPrincipals`). serverless-offline does not evaluate CloudFormation
 *   intrinsics (it would pass `Fn::If`/`Ref` on as "[object Object]"), so the registry secret and
 *   the lock table, intrinsics in AWS, are given as the offline-only params `offlineSecretId` and
 *   `offlineLockTable`.
 * - serverless-offline copies its own process's `AWS_*` variables into every function's
 *   environment: that is how the functions reach moto (AWS_ENDPOINT_URL_SECRETS_MANAGER,
 *   AWS_ENDPOINT_URL_DYNAMODB) with fake credentials. AWS_REGION and AWS_DEFAULT_REGION are
 *   overwritten with `--region`, so the region passed is the one the secret and table live in.
 *   No other variable of this process reaches the functions (they run in worker threads with the
 *   environment serverless-offline builds).
 * - The process runs without the caller's AWS settings, HOME or `AUTHORIZER` (serverless-offline
 *   would take that variable as the authorizer context of every request).
 *
 * Identity: API Gateway's IAM authorization does not exist offline (serverless.yml turns
 * authorizers off there); a caller names its principal with the header
 * `sls-offline-authorizer-override: {"iam":{"userArn":"arn:..."}}`, which serverless-offline
 * puts in `requestContext.authorizer` as given. Without the header the function answers 401.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hermeticEnv } from './hermetic-env';
import { awsEnvFor, freePort, stopGroup } from './servers';

/** The header that makes serverless-offline present `principal` as the IAM-authorized caller. */
export { localPrincipalHeaders as asPrincipal } from '../lib/http/signed-client';

export interface OfflineOptions {
  /** moto's URL: Secrets Manager and DynamoDB for the functions. */
  readonly motoUrl: string;
  /** The registry secret (id or ARN) in moto. */
  readonly secretId: string;
  /** The alias lock table in moto (see local/lock-table.ts). */
  readonly lockTable: string;
  /** More osls params (serverless.yml `params`), e.g. promptNamePrefix, promoterPrincipals. */
  readonly params?: Readonly<Record<string, string>>;
  /** More variables for the serverless-offline process (`AWS_*` ones reach the functions). */
  readonly env?: Readonly<Record<string, string>>;
  /** The region of the secret and the table in moto (default: awsEnvFor's). */
  readonly region?: string;
  readonly stage?: string;
  /** Default: a free port. */
  readonly httpPort?: number;
  /** serverless-offline's Lambda invoke endpoint; default: a free port. */
  readonly lambdaPort?: number;
  /** Where serverless-offline's output (and the functions' log lines) go; default a temp file. */
  readonly logFile?: string;
  /** Each whole line of serverless-offline's output (the functions' JSON log lines among them). */
  readonly onLine?: (line: string) => void;
  /** The project root (serverless.yml); default the current directory. */
  readonly root?: string;
  readonly timeoutMs?: number;
  /** Told serverless-offline's process group as soon as it is spawned, before it serves. */
  readonly onSpawn?: (group: number) => void;
  /** Aborting stops serverless-offline while it is still starting. */
  readonly signal?: AbortSignal;
}

export interface OfflineServer {
  /** The HTTP API's base URL, e.g. http://127.0.0.1:3000 (no stage in the path). */
  readonly url: string;
  readonly logFile: string;
  /** serverless-offline's process group id. */
  readonly group: number | undefined;
  /** The last 64 KiB of serverless-offline's output, for diagnostics. */
  output(): string;
  stop(): Promise<void>;
}

const OSLS = join('node_modules', 'osls', 'bin', 'serverless.js');
/** serverless-offline logs a failed start and keeps running; these lines mean it will not serve. */
const FATAL = /^Error:|Unexpected error while starting/m;
const TAIL = 64 * 1024;

export async function startOffline(options: OfflineOptions): Promise<OfflineServer> {
  const root = options.root ?? process.cwd();
  const httpPort = options.httpPort ?? (await freePort());
  let lambdaPort = options.lambdaPort ?? (await freePort());
  while (lambdaPort === httpPort) lambdaPort = await freePort();
  const scratch = mkdtempSync(join(tmpdir(), 'promptops-offline-'));
  const home = join(scratch, 'home');
  mkdirSync(home);
  const logFile = options.logFile ?? join(scratch, 'offline.log');
  // serverless-esbuild builds under the project root; a folder per run lets runs coexist.
  const workFolder = join('.cache', `offline-esbuild-${randomBytes(4).toString('hex')}`);
  const aws = awsEnvFor(options.motoUrl);
  const region = options.region ?? aws.AWS_REGION ?? 'us-east-1';
  const env = hermeticEnv(home, {
    ...aws,
    AWS_REGION: region,
    ...options.env,
    PROMPTOPS_ESBUILD_WORK_FOLDER: workFolder,
  });
  delete env.AUTHORIZER;
  const params: Record<string, string> = {
    ...options.params,
    offlineSecretId: options.secretId,
    offlineLockTable: options.lockTable,
  };
  const args = [
    OSLS,
    'offline',
    'start',
    '--stage',
    options.stage ?? 'local',
    '--region',
    region,
    '--host',
    '127.0.0.1',
    '--httpPort',
    String(httpPort),
    '--lambdaPort',
    String(lambdaPort),
    '--noSponsor',
    ...Object.entries(params).map(([name, value]) => `--param=${name}=${value}`),
  ];

  const log = openSync(logFile, 'a');
  let tail = '';
  let partial = '';
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: stopping it stops its worker threads' process and anything under it.
    detached: true,
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  const append = (chunk: string) => {
    writeSync(log, chunk);
    tail = (tail + chunk).slice(-TAIL);
    if (options.onLine) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    }
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  // 'close': exited and its output read to the end (the log is closed after it).
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= stopGroup(child)
      .then(() => exited)
      .finally(() => {
        closeSync(log);
        rmSync(join(root, workFolder), { recursive: true, force: true });
        rmSync(home, { recursive: true, force: true });
      });
    return stopped;
  };

  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  try {
    for (;;) {
      if (options.signal?.aborted) throw new Error('interrupted while serverless-offline was starting');
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `serverless-offline exited with ${child.exitCode ?? child.signalCode}; see ${logFile}`,
        );
      if (FATAL.test(tail))
        throw new Error(`serverless-offline failed to start; see ${logFile}:\n${tail.trim()}`);
      if (Date.now() > deadline)
        throw new Error(`serverless-offline did not serve ${url} in time; see ${logFile}`);
      // Any answer means the API is up: an unknown path is answered (404) by serverless-offline
      // itself, without invoking a function.
      try {
        await fetch(`${url}/__promptops_offline_ready`, { signal: AbortSignal.timeout(1_000) });
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, logFile, group: child.pid, output: () => tail, stop };
}
