/**
 * Benchmark: the Lambda bundles `osls package` builds (serverless.yml, serverless-esbuild), one
 * per function: zipped size, and cold module init, i.e. a fresh Node process (this one's binary,
 * the Lambda runtime's major) importing the bundle extracted from its zip into a directory with
 * no node_modules, with the function's environment from the template (as deployed) and
 * the variables Lambda sets. Side by side, in the same run: `import mlflow.genai` in a fresh
 * Python process from the project venv, and, for orientation, single imports of what the bundle
 * is made of (run from the project's node_modules, unbundled).
 *
 * raw = spawn until the import has resolved (the child prints a marker line); net = raw minus the
 * median of a fresh `node -e ''` (spawn to exit): what the bundle adds to a bare process start.
 * Python's net is against `python -c ''`. All runs are interleaved, round by round.
 *
 * Targets, per function: net init median at most 150 ms; zip at most 1 MiB.
 * The report exits 0 whether or not the targets are met; non-zero only when it could not run.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hermeticEnv } from '../local/hermetic-env';
import { venvBin } from '../local/servers';
import {
  type CfnTemplate,
  type CfnValue,
  fileSize,
  packageService,
  readZip,
  resourcesOfType,
} from '../test/support/sls-package';
import { median, ms, type TimedCommand, table, timeProcess } from './support/process-timing';

/**
 * BENCH_INIT_RUNS / BENCH_PYTHON_RUNS override the number of runs (at least 10 / 5).
 * BENCH_BASELINE=<git revision> also packages that revision (a worktree under .cache with its own
 * node_modules) and times its bundles in the same rounds: before and after, side by side.
 */
const BASELINE = process.env.BENCH_BASELINE?.trim() || undefined;
const NODE_RUNS = Math.max(10, Number(process.env.BENCH_INIT_RUNS) || 15);
const PYTHON_RUNS = Math.max(5, Number(process.env.BENCH_PYTHON_RUNS) || 5);
const TARGET_INIT_MS = 150;
const TARGET_ZIP_BYTES = 1024 * 1024;
const STAGE = 'bench';
const REGION = 'eu-west-1';
/** Stands in for a CloudFormation reference in the template (the secret's ARN). */
const PLACEHOLDER_SECRET_ARN = `arn:aws:secretsmanager:${REGION}:123456789012:secret:promptops/${STAGE}/registry-AbCdEf`;
const READY = 'ready';

const root = process.cwd();
process.env.PROMPTOPS_VENV ??= join(root, '.venv');

interface FunctionBundle {
  readonly name: string;
  readonly zipName: string;
  readonly zipBytes: number;
  /** The extracted module to import. */
  readonly modulePath: string;
  readonly exportName: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A timed thing: its label and how to run it once. */
interface Subject {
  readonly key: string;
  readonly runs: number;
  readonly command: TimedCommand;
  readonly samples: number[];
}

const KIB = 1024;
const kib = (bytes: number) => (bytes / KIB).toFixed(1);

/** This process's environment without AWS settings or NODE_OPTIONS, plus `extra`. */
function cleanEnv(extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _ignored, ...env } = hermeticEnv(process.env.HOME ?? tmpdir());
  return { ...env, ...extra };
}

function envFromTemplate(variables: CfnValue | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) return env;
  for (const [key, value] of Object.entries(variables)) {
    if (typeof value === 'string') env[key] = value;
    else if (key === 'PROMPTOPS_SECRET_ID') env[key] = PLACEHOLDER_SECRET_ARN;
    else env[key] = 'bench-placeholder';
  }
  return env;
}

/** The functions in the template whose code is one of the zips, each extracted under `into`. */
function extractBundles(
  template: CfnTemplate,
  zips: ReadonlyMap<string, string>,
  into: string,
): FunctionBundle[] {
  const bundles: FunctionBundle[] = [];
  for (const [logicalId, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
    const code = fn.Properties?.Code;
    const key = typeof code === 'object' && code !== null && !Array.isArray(code) ? code.S3Key : undefined;
    const zipName = typeof key === 'string' ? key.split('/').pop() : undefined;
    const zipPath = zipName === undefined ? undefined : zips.get(zipName);
    const handler = fn.Properties?.Handler;
    const functionName = fn.Properties?.FunctionName;
    if (zipName === undefined || zipPath === undefined || typeof handler !== 'string') continue;
    if (zipName === 'custom-resources.zip') continue; // the framework's own, not ours
    const name =
      typeof functionName === 'string' ? functionName.replace(`promptops-${STAGE}-`, '') : logicalId;
    const dot = handler.lastIndexOf('.');
    const base = handler.slice(0, dot);
    const exportName = handler.slice(dot + 1);
    const dir = join(into, name);
    const entries = readZip(zipPath);
    for (const entry of entries) {
      const target = join(dir, entry.name);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, entry.read());
    }
    const moduleEntry = ['.mjs', '.js', '.cjs']
      .map((ext) => base + ext)
      .find((p) => entries.some((e) => e.name === p));
    if (moduleEntry === undefined) throw new Error(`${zipName} has no module for handler ${handler}`);
    const memory = fn.Properties?.MemorySize;
    bundles.push({
      name,
      zipName,
      zipBytes: fileSize(zipPath),
      modulePath: join(dir, moduleEntry),
      exportName,
      env: cleanEnv({
        ...envFromTemplate(
          typeof fn.Properties?.Environment === 'object' &&
            fn.Properties.Environment !== null &&
            !Array.isArray(fn.Properties.Environment)
            ? fn.Properties.Environment.Variables
            : undefined,
        ),
        // What Lambda sets in every function's environment.
        AWS_REGION: REGION,
        AWS_DEFAULT_REGION: REGION,
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        AWS_LAMBDA_FUNCTION_NAME: typeof functionName === 'string' ? functionName : logicalId,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(typeof memory === 'number' ? memory : 1024),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      }),
    });
  }
  return bundles;
}

/** A child that imports the bundle, checks the handler export, prints the marker and exits. */
function importScript(modulePath: string, exportName: string): string {
  const url = JSON.stringify(pathToFileURL(modulePath).href);
  return (
    `const m = await import(${url});` +
    `if (typeof m[${JSON.stringify(exportName)}] !== 'function') { console.error('no handler export'); process.exit(3); }` +
    `process.stdout.write(${JSON.stringify(`${READY}\n`)}); process.exit(0);`
  );
}

const SINGLE_IMPORTS: readonly { readonly key: string; readonly source: string }[] = [
  { key: "import { request } from 'undici'", source: "import { request } from 'undici';\nvoid request;\n" },
  {
    key: 'new SecretsManagerClient() (import + construct)',
    source:
      "import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';\nnew SecretsManagerClient({});\n",
  },
  { key: "import * as z from 'zod'", source: "import * as z from 'zod';\nvoid z;\n" },
];

/**
 * Choices the functions made, each bundled as the functions are (esbuild, minified ES
 * module, the same options as serverless.yml) and timed the same way. A model client is measured
 * beside the registry client every function carries (with its undici and zod): what it adds is
 * the difference to the registry client alone: predict's model client (ours or the 'openai'
 * package), the handler wrapper over Powertools' Logger and Metrics (ours or Middy with
 * Powertools' middlewares), the secret cache (ours or Powertools Parameters' SecretsProvider),
 * the event schemas (ours or Powertools Parser's).
 * Tracing (OpenTelemetry's SDK and OTLP protobuf) alone.
 */
const REGISTRY_CLIENT =
  "import { createRegistryClient } from './lib/registry';\n" +
  "globalThis.r = createRegistryClient({ trackingUri: 'http://127.0.0.1:1' });\n";
const CANDIDATES: readonly { readonly key: string; readonly source: string }[] = [
  { key: 'registry client alone (every function has it)', source: REGISTRY_CLIENT },
  {
    key: '+ model client: ours (undici, lib/model/chat-model.ts)',
    source:
      `${REGISTRY_CLIENT}import { createChatModel } from './lib/model/chat-model';\n` +
      "globalThis.m = createChatModel({ baseUrl: 'http://127.0.0.1:1/v1', name: 'm', apiKey: 'k' });\n",
  },
  {
    key: "+ model client: the 'openai' package",
    source:
      `${REGISTRY_CLIENT}import OpenAI from 'openai';\n` +
      "globalThis.m = new OpenAI({ baseURL: 'http://127.0.0.1:1/v1', apiKey: 'k' });\n",
  },
  {
    key: '+ logs and metrics: Powertools, our wrapper (lib/runtime/handler.ts)',
    source:
      `${REGISTRY_CLIENT}import { createPowertoolsLogger } from './lib/observability/logger';\n` +
      "import { createPowertoolsMetrics } from './lib/observability/metrics';\n" +
      "import { instrumented } from './lib/runtime/handler';\n" +
      "const logger = createPowertoolsLogger({ service: 's' });\n" +
      "const metrics = createPowertoolsMetrics({ namespace: 'n', service: 's', functionName: 'f' });\n" +
      'globalThis.h = instrumented({ logger, metrics }, async () => 1);\n',
  },
  {
    key: "+ logs and metrics: Powertools, Middy with Powertools' middlewares",
    source:
      `${REGISTRY_CLIENT}import { createPowertoolsLogger } from './lib/observability/logger';\n` +
      "import { createPowertoolsMetrics } from './lib/observability/metrics';\n" +
      "import middy from '@middy/core';\n" +
      "import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';\n" +
      "import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';\n" +
      "const logger = createPowertoolsLogger({ service: 's' });\n" +
      "const metrics = createPowertoolsMetrics({ namespace: 'n', service: 's', functionName: 'f' });\n" +
      'globalThis.h = middy(async () => 1).use(injectLambdaContext(logger)).use(logMetrics(metrics));\n',
  },
  {
    key: '+ secrets: ours (lib/secrets/secret-cache.ts, bounded SecretsManagerClient)',
    source:
      `${REGISTRY_CLIENT}import { createSecretCache } from './lib/secrets/secret-cache';\n` +
      "import { boundedSecretsManager } from './lib/secrets/secrets-manager';\n" +
      'globalThis.s = createSecretCache({ client: boundedSecretsManager(), ttlMs: 300000 });\n',
  },
  {
    key: "+ secrets: Powertools Parameters' SecretsProvider (same bounded client)",
    source:
      `${REGISTRY_CLIENT}import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';\n` +
      "import { boundedSecretsManager } from './lib/secrets/secrets-manager';\n" +
      'globalThis.s = new SecretsProvider({ awsSdkV3Client: boundedSecretsManager() });\n',
  },
  {
    key: '+ S3 event schema: ours (lib/register/s3-event.ts)',
    source:
      `${REGISTRY_CLIENT}import { selectUploads } from './lib/register/s3-event';\n` +
      'globalThis.e = selectUploads;\n',
  },
  {
    key: "+ S3 event schema: Powertools Parser's S3Schema",
    source:
      `${REGISTRY_CLIENT}import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';\n` +
      'globalThis.e = S3Schema;\n',
  },
  {
    key: "+ HTTP API event schema: Powertools Parser's APIGatewayProxyEventV2Schema",
    source:
      `${REGISTRY_CLIENT}import { APIGatewayProxyEventV2Schema } from '@aws-lambda-powertools/parser/schemas/api-gatewayv2';\n` +
      'globalThis.e = APIGatewayProxyEventV2Schema;\n',
  },
  {
    key: 'tracing alone: OpenTelemetry SDK + OTLP protobuf (lib/tracing)',
    source:
      "import { createTracer } from './lib/tracing/recorder';\nimport { exportTrace } from './lib/tracing/export';\n" +
      "globalThis.t = [createTracer({ content: { mode: 'full', maxChars: 1 } }), exportTrace];\n",
  },
];

/** Bundles `source` (resolved from the project root) as serverless.yml bundles the functions. */
async function bundleCandidate(source: string, outfile: string): Promise<number> {
  const { build } = await import('esbuild');
  await build({
    stdin: { contents: source, resolveDir: root, loader: 'ts' },
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    outfile,
    logLevel: 'error',
  });
  return fileSize(outfile);
}

/** `rev` checked out under .cache (once), with its own node_modules: its lock may differ from ours. */
function baselineCheckout(rev: string): string {
  const git = (args: string[], cwd = root) => {
    const run = spawnSync('git', args, { cwd, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`git ${args.join(' ')}: ${run.stderr}`);
    return run.stdout.trim();
  };
  const commit = git(['rev-parse', '--verify', `${rev}^{commit}`]);
  const dir = join(root, '.cache', `bench-baseline-${commit.slice(0, 12)}`);
  if (!existsSync(join(dir, 'node_modules', '.bin', 'osls'))) {
    rmSync(dir, { recursive: true, force: true });
    git(['worktree', 'prune']);
    git(['worktree', 'add', '--detach', dir, commit]);
    const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8' });
    if (ci.status !== 0) throw new Error(`npm ci in ${dir}: ${ci.stderr}`);
  }
  return dir;
}

async function main(): Promise<void> {
  const work = join(root, '.cache', `bench-bundles-${randomBytes(4).toString('hex')}`);
  // Outside the project: nothing can resolve from its node_modules, as in Lambda.
  const extracted = mkdtempSync(join(tmpdir(), 'promptops-bundles-'));
  try {
    process.stderr.write(`[bench] osls package --stage ${STAGE} --region ${REGION}\n`);
    const pkg = await packageService({ stage: STAGE, region: REGION, outDir: join(work, 'package'), root });
    const bundles = extractBundles(pkg.template, pkg.zips, extracted);
    if (bundles.length === 0) throw new Error(`no function bundles in ${pkg.dir}`);
    let before: FunctionBundle[] = [];
    if (BASELINE !== undefined) {
      process.stderr.write(`[bench] osls package of ${BASELINE} (the baseline)\n`);
      const old = await packageService({
        stage: STAGE,
        region: REGION,
        outDir: join(work, 'baseline-package'),
        root: baselineCheckout(BASELINE),
      });
      before = extractBundles(old.template, old.zips, join(extracted, 'baseline'));
    }

    const node = process.execPath;
    const plainEnv = cleanEnv({ AWS_REGION: REGION });
    const subject = (key: string, runs: number, command: TimedCommand): Subject => ({
      key,
      runs,
      command,
      samples: [],
    });

    const nodeBaseline = subject('node -e', NODE_RUNS, {
      command: node,
      args: ['-e', ''],
      cwd: root,
      env: plainEnv,
    });
    const functionSubjects = bundles.map((b) =>
      subject(b.name, NODE_RUNS, {
        command: node,
        args: ['--input-type=module', '-e', importScript(b.modulePath, b.exportName)],
        cwd: dirname(b.modulePath),
        env: b.env,
        marker: READY,
      }),
    );
    const baselineSubjects = before.map((b) =>
      subject(`${b.name} @ ${BASELINE}`, NODE_RUNS, {
        command: node,
        args: ['--input-type=module', '-e', importScript(b.modulePath, b.exportName)],
        cwd: dirname(b.modulePath),
        env: b.env,
        marker: READY,
      }),
    );
    // The same bundles with source maps enabled at runtime (not what the functions run with), for
    // orientation: what readable stack traces would cost.
    const noSourceMapSubjects = bundles.map((b) => {
      const env = { ...b.env, NODE_OPTIONS: '--enable-source-maps' };
      return subject(`${b.name} (--enable-source-maps)`, NODE_RUNS, {
        command: node,
        args: ['--input-type=module', '-e', importScript(b.modulePath, b.exportName)],
        cwd: dirname(b.modulePath),
        env,
        marker: READY,
      });
    });
    // Single imports: small .mjs files inside the project, so that packages resolve from its node_modules.
    const importsDir = join(work, 'imports');
    mkdirSync(importsDir, { recursive: true });
    const singleSubjects = SINGLE_IMPORTS.map((single, i) => {
      const file = join(importsDir, `import-${i}.mjs`);
      writeFileSync(
        file,
        `${single.source}process.stdout.write(${JSON.stringify(`${READY}\n`)});\nprocess.exit(0);\n`,
      );
      return subject(single.key, NODE_RUNS, {
        command: node,
        args: [file],
        cwd: root,
        env: plainEnv,
        marker: READY,
      });
    });
    // The functions' choices, bundled alone, outside the project as the functions run.
    const candidateBytes: number[] = [];
    const candidateSubjects: Subject[] = [];
    for (const [i, candidate] of CANDIDATES.entries()) {
      const file = join(extracted, 'candidates', `candidate-${i}.mjs`);
      candidateBytes.push(await bundleCandidate(candidate.source, file));
      candidateSubjects.push(
        subject(candidate.key, NODE_RUNS, {
          command: node,
          args: [
            '--input-type=module',
            '-e',
            `await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(${JSON.stringify(`${READY}\n`)}); process.exit(0);`,
          ],
          cwd: dirname(file),
          env: plainEnv,
          marker: READY,
        }),
      );
    }
    const python = venvBin('python');
    const pythonEnv = { ...plainEnv, MLFLOW_DISABLE_TELEMETRY: 'true' };
    const pythonBaseline = subject('python -c', PYTHON_RUNS, {
      command: python,
      args: ['-c', ''],
      cwd: root,
      env: pythonEnv,
    });
    const pythonImport = subject('python -c "import mlflow.genai"', PYTHON_RUNS, {
      command: python,
      args: ['-c', 'import mlflow.genai'],
      cwd: root,
      env: pythonEnv,
    });

    const all = [
      nodeBaseline,
      ...functionSubjects,
      ...baselineSubjects,
      ...noSourceMapSubjects,
      ...singleSubjects,
      ...candidateSubjects,
      pythonBaseline,
      pythonImport,
    ];
    // One warm-up of each (file system caches), not counted.
    for (const s of all) await timeProcess(s.command);
    const loadBefore = loadavg();
    const rounds = Math.max(NODE_RUNS, PYTHON_RUNS);
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that no subject always runs right after the same other one.
      const order = round % 2 === 0 ? all : [...all].reverse();
      for (const s of order) if (s.samples.length < s.runs) s.samples.push(await timeProcess(s.command));
      process.stderr.write(`[bench] round ${round + 1}/${rounds} done\n`);
    }
    const loadAfter = loadavg();

    const nodeBase = median(nodeBaseline.samples);
    const pythonBase = median(pythonBaseline.samples);
    const pythonRaw = median(pythonImport.samples);
    const pythonNet = pythonRaw - pythonBase;
    const range = (values: readonly number[]) => `${ms(Math.min(...values))}-${ms(Math.max(...values))}`;

    const rows: string[][] = [
      [
        'subject',
        'zip bytes',
        'zip KiB',
        'runs',
        'raw median ms',
        'min-max ms',
        'net median ms',
        'python/ours raw',
        'python/ours net',
      ],
    ];
    functionSubjects.forEach((s, i) => {
      const bundle = bundles[i];
      if (bundle === undefined) return;
      const raw = median(s.samples);
      rows.push([
        `${bundle.name} (${bundle.zipName})`,
        String(bundle.zipBytes),
        kib(bundle.zipBytes),
        String(s.samples.length),
        ms(raw),
        range(s.samples),
        ms(raw - nodeBase),
        `${(pythonRaw / raw).toFixed(1)}x`,
        `${(pythonNet / (raw - nodeBase)).toFixed(1)}x`,
      ]);
    });
    rows.push([
      'python -c "import mlflow.genai" (venv)',
      '-',
      '-',
      String(pythonImport.samples.length),
      ms(pythonRaw),
      range(pythonImport.samples),
      ms(pythonNet),
      '1.0x',
      '1.0x',
    ]);
    const baselineRow = (label: string, s: Subject) => [
      label,
      '-',
      '-',
      String(s.samples.length),
      ms(median(s.samples)),
      range(s.samples),
      '-',
      '',
      '',
    ];
    rows.push(baselineRow("baseline: node -e '' (spawn to exit)", nodeBaseline));
    rows.push(baselineRow("baseline: python -c '' (spawn to exit)", pythonBaseline));

    const orientation: string[][] = [
      ['for orientation', 'runs', 'raw median ms', 'min-max ms', 'net median ms'],
    ];
    for (const s of [...noSourceMapSubjects, ...singleSubjects]) {
      const raw = median(s.samples);
      orientation.push([s.key, String(s.samples.length), ms(raw), range(s.samples), ms(raw - nodeBase)]);
    }

    const out: string[] = [];
    out.push('');
    out.push(
      `Function bundles from \`osls package --stage ${STAGE} --region ${REGION}\` (serverless-esbuild); cold module init = ` +
        `a fresh \`node\` importing the bundle extracted from its zip, with the function's environment; ` +
        `Node ${process.version} (${process.arch}); ${NODE_RUNS} runs per Node subject, ${PYTHON_RUNS} per Python subject, interleaved`,
    );
    out.push(
      `raw = spawn until the import resolved; net = raw - median node -e '' (${ms(nodeBase)} ms); ` +
        `python net = raw - median python -c '' (${ms(pythonBase)} ms)`,
    );
    out.push(
      `machine: ${availableParallelism()} CPUs, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ` +
        `${loadAfter.map((l) => l.toFixed(2)).join(' ')} after`,
    );
    out.push('');
    out.push(table(rows, new Set([1, 2, 3, 4, 5, 6, 7, 8])));
    if (before.length > 0) {
      const comparison: string[][] = [
        [
          'function',
          `zip KiB @ ${BASELINE}`,
          'zip KiB now',
          'zip now/before',
          `net ms @ ${BASELINE}`,
          'net ms now',
          'net now/before',
        ],
      ];
      for (const [i, old] of before.entries()) {
        const j = bundles.findIndex((b) => b.name === old.name);
        const now = bundles[j];
        const oldNet = median(baselineSubjects[i]?.samples ?? [0]) - nodeBase;
        const nowNet = median(functionSubjects[j]?.samples ?? [0]) - nodeBase;
        if (now === undefined) continue;
        comparison.push([
          old.name,
          kib(old.zipBytes),
          kib(now.zipBytes),
          `${(now.zipBytes / old.zipBytes).toFixed(3)}x`,
          ms(oldNet),
          ms(nowNet),
          `${(nowNet / oldNet).toFixed(3)}x`,
        ]);
      }
      out.push('');
      out.push(table(comparison, new Set([1, 2, 3, 4, 5, 6])));
      out.push(`(before = ${BASELINE}, packaged and timed in the same interleaved rounds as now)`);
    }
    out.push('');
    out.push(table(orientation, new Set([1, 2, 3, 4])));
    out.push(
      '("--enable-source-maps": the same bundle with source maps enabled at runtime, which the functions do not; ' +
        'the single imports are unbundled, from node_modules, in a fresh node each)',
    );
    const candidates: string[][] = [
      [
        "the functions' choices, bundled",
        'bundle bytes',
        'added bytes',
        'runs',
        'raw median ms',
        'net median ms',
        'added ms',
      ],
    ];
    const baseBytes = candidateBytes[0] ?? 0;
    const baseRaw = median(candidateSubjects[0]?.samples ?? [0]);
    candidateSubjects.forEach((s, i) => {
      const raw = median(s.samples);
      const added = s.key.startsWith('+ ');
      candidates.push([
        s.key,
        String(candidateBytes[i]),
        added ? String((candidateBytes[i] ?? 0) - baseBytes) : '-',
        String(s.samples.length),
        ms(raw),
        ms(raw - nodeBase),
        added ? ms(raw - baseRaw) : '-',
      ]);
    });
    out.push('');
    out.push(table(candidates, new Set([1, 2, 3, 4, 5, 6])));
    out.push(
      '(minified, unzipped; "added" = over the registry client alone, which every function bundle carries)',
    );
    out.push('');
    functionSubjects.forEach((s, i) => {
      const bundle = bundles[i];
      if (bundle === undefined) return;
      const net = median(s.samples) - nodeBase;
      out.push(
        `${net <= TARGET_INIT_MS ? 'PASS' : 'FAIL'}  ${bundle.name}: module init <= ${TARGET_INIT_MS} ms median: ` +
          `${ms(net)} ms net (${ms(median(s.samples))} ms raw)`,
      );
      out.push(
        `${bundle.zipBytes <= TARGET_ZIP_BYTES ? 'PASS' : 'FAIL'}  ${bundle.name}: zip <= 1 MiB (1048576 bytes): ` +
          `${bundle.zipBytes} bytes (${kib(bundle.zipBytes)} KiB)`,
      );
    });
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(extracted, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `[bench] bundles failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
