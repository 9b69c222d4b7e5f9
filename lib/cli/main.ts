/**
 * `promptops`: the project's command line. Exit codes: 0 done, 1 the operation failed (one line
 * on stderr says why; `register` writes one per failed file or prompt), 2 the command was called
 * wrongly.
 */
import { parseArgs } from 'node:util';
import { isPromptOpsError } from '../errors';
import { parsePromptUri } from '../prompts/names';
import { formatTemplate } from '../prompts/template';
import { own } from '../util/own';
import { experimentCommand } from './experiment';
import { feedbackCommand } from './feedback';
import { asUsage, type CliIo, namingFrom, oneLine, REGISTRY_FLAGS, UsageError, withoutOperation } from './io';
import { predictCommand } from './predict';
import { PROMOTE_COMMANDS } from './promote';
import { registerCommand } from './register';
import { cliRegistryFromEnv, experimentFromEnv, registryFromEnv } from './registry-from-env';
import { describePromptVersion, promptVersionJson } from './show';
import { snapshotCommand } from './snapshot';
import { verifyCommand } from './verify';

const USAGE = `Usage:
  promptops show <prompts:/name/version | prompts:/name@alias | name> [--json]
  promptops format <prompt uri> --var key=value [--var key=value ...] [--partial]
  promptops register [paths...] [--dry-run] [--concurrency N] [--secret-id ID]
                     [--catalog C --schema S | --prefix P]
  promptops promote <name> [--from ALIAS|N] [--to ALIAS] [--expected-version N|none] [--reason TEXT]
  promptops rollback <name> [--alias A] [--to-version N] [--reason TEXT]
  promptops history <name> [--limit N] [--page-token T]
  promptops prompts [--limit N] [--page-token T]
  promptops predict "<question>" [--data FILE.json] [--alias A] [--model NAME] [--json]
                     [--prompts DIR] [--api URL | --local]
  promptops snapshot [--alias A] [--pins P] [--prompts DIR] [--out FILE] [--require-registry]
  promptops verify [--alias A ...] [--prompts DIR] [--json] [--secret-id ID]
  promptops feedback <traceId> --value up|down|<score> [--comment TEXT] [--name NAME] [--by WHO]
  promptops experiment start <name> --id ID --variant ALIAS=SHARE% [--variant ...] [--control A]
                     [--key user|session|request] [--ends ISO] [--guard LIST] [--rollout 5,25,50,100]
                     [--expected-revision N|none] [--reason TEXT]
  promptops experiment show <name>
  promptops experiment stop <name> [--expected-revision N] [--reason TEXT]
  promptops experiment report <name> [--since 24h|ISO] [--revision N|all] [--latency trace|model]
                     [--min-samples N] [--alpha A] [--max-traces N] [--json]

Options:
  --tracking-uri URL   the MLflow server (default: $MLFLOW_TRACKING_URI); databricks or
                       databricks://<profile> for a workspace's Unity Catalog (or set
                       MLFLOW_REGISTRY_URI=databricks-uc)
Auth: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD; on
Databricks DATABRICKS_HOST with DATABRICKS_TOKEN, or with DATABRICKS_CLIENT_ID and
DATABRICKS_CLIENT_SECRET, or a ~/.databrickscfg profile (DATABRICKS_CONFIG_PROFILE).

register: prompt files (default: the directory prompts/) become new versions when their content
changed; staging follows, production is set only for a new prompt. Exit 1 if any file failed.
  --dry-run            write nothing; show what would change, with a diff of each template
  --concurrency N      prompts registered at once (default 4)
  --secret-id ID       read the registry and its credentials from this AWS Secrets Manager secret
                       (region, endpoint and AWS credentials from the standard AWS_* variables)
  --catalog, --schema, --prefix   registry naming (default: $PROMPT_CATALOG, $PROMPT_SCHEMA,
                       $PROMPT_NAME_PREFIX)

promote, rollback, history, prompts: the deployed promote API, signed (SigV4) with the standard
AWS credentials. promote moves --to (default production) to --from (default staging); rollback
moves --alias (default production) back to its previous version or --to-version.
  --api URL            the API (default: $PROMPTOPS_API_URL)
  --region R           the region to sign for (default: the region in an execute-api URL, else
                       $AWS_REGION or $AWS_DEFAULT_REGION)
  --expected-version   the version the alias must point at now; 'none': it must not exist yet
  --json               print the API's answer as JSON
  --local-principal ARN  local serverless-offline runs only: the caller the function sees
                       (default: $PROMPTOPS_LOCAL_PRINCIPAL)

predict: the Health Monitor agent answers the question. In-process by default: prompts from
$MLFLOW_TRACKING_URI by --alias (default $PREDICT_ALIAS or production), the model at
$OPENAI_BASE_URL (with /v1) named --model or $PROMPTOPS_MODEL, key $OPENAI_API_KEY, the trace to
the same MLflow ($MLFLOW_EXPERIMENT_NAME or $MLFLOW_EXPERIMENT_ID, default 0). With --api URL or
$PROMPTOPS_API_URL (unless --local): the deployed POST /predict, signed; the stage decides the
alias and the model there. --data: a JSON file of data by domain ({"cost": {...}}).
  --json               one object: answer, traceId, domains, prompts (or error)
  --prompts DIR        local runs: the agent's contract (DIR/agent.yaml, else the built-in one)
                       and the prompt files served when the registry fails (default prompts/)

snapshot: the prompts the predict function bundles as its fallback, as JSON: what --alias
(default production) and --pins (prompt=version or prompt@alias, comma-separated) serve in the
registry ($MLFLOW_TRACKING_URI); without one, or when it cannot be read, the files in --prompts
(default prompts/) without versions, unless --require-registry. The prompts are those of the
agent's contract: --prompts DIR/agent.yaml when there is one, else the built-in one.

feedback: a person's judgement of an answer, on its trace (the trace id predict printed), as
MLflow's log_feedback records it: --value up or down (a thumbs up or down) or a score, with an
optional --comment; --name (default user_feedback); --by who judged (default
$PROMPTOPS_FEEDBACK_BY, else the login name). An unknown trace is refused (exit 1).

experiment: a prompt's traffic split between its control alias (default production) and 1-3
variant aliases, kept in the registry; predict assigns each user (--key user, default), session
or request to an arm. start, show and stop go through the promote API, as promote does (the
same flags: --api, --region, --json, --local-principal). --guard: limits on variant minus
control, e.g. "error_rate<=+1pp,p95_latency<=+20%,feedback>=-5pp"; --rollout: a guarded rollout
of one variant (--variant ALIAS) that the rollout function advances while the guardrails hold.
report reads the experiment's traces in MLflow ($MLFLOW_TRACKING_URI, $MLFLOW_EXPERIMENT_NAME or
_ID) and prints per arm its requests, error and fallback rates, latency p50/p95, tokens and
feedback, with each difference to control, its interval and a verdict.

verify: every alias the agent loads (--alias, repeatable; default production and staging) still
resolves to a version it can use: present, parseable, formattable with the variables the agent
supplies, its content hash as registered. A table, or one JSON object with --json. Exit 0 when
nothing failed (warnings allowed), 1 when something did. --prompts DIR: the prompts whose files
are in DIR (the contract: DIR/agent.yaml, else the built-in one).`;

const DEFAULT_CONCURRENCY = 4;

function parseVars(pairs: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--var expects key=value, got '${pair}'.`);
    values[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return values;
}

async function show(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { json: { type: 'boolean' }, 'tracking-uri': { type: 'string' } },
  });
  const [uri, ...rest] = positionals;
  if (uri === undefined || rest.length > 0) throw new UsageError('show takes exactly one prompt URI.');
  // A malformed URI is wrong usage (exit 2), found before any registry is needed.
  asUsage(() => parsePromptUri(uri));
  const prompt = await registryFromEnv(io.env, values['tracking-uri']).loadPrompt(uri);
  io.stdout(
    values.json ? `${JSON.stringify(promptVersionJson(prompt), null, 2)}\n` : describePromptVersion(prompt),
  );
  return 0;
}

async function format(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      var: { type: 'string', multiple: true },
      partial: { type: 'boolean' },
      'tracking-uri': { type: 'string' },
    },
  });
  const [uri, ...rest] = positionals;
  if (uri === undefined || rest.length > 0) throw new UsageError('format takes exactly one prompt URI.');
  asUsage(() => parsePromptUri(uri));
  const vars = parseVars(values.var ?? []);
  const prompt = await registryFromEnv(io.env, values['tracking-uri']).loadPrompt(uri);
  // A value for a variable the template does not have is most likely a typo: said, not dropped.
  const unknown = Object.keys(vars).filter((name) => !prompt.variables.includes(name));
  if (unknown.length > 0) {
    io.stderr(
      `promptops: warning: ${prompt.name} version ${prompt.version} has no variable ${unknown.map((n) => `'${n}'`).join(', ')}` +
        ` (it has ${prompt.variables.map((n) => `'${n}'`).join(', ') || 'none'}); ignored.\n`,
    );
  }
  const formatted = formatTemplate(prompt.template, vars, { partial: values.partial === true });
  io.stdout(typeof formatted === 'string' ? `${formatted}\n` : `${JSON.stringify(formatted, null, 2)}\n`);
  return 0;
}

function parseConcurrency(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CONCURRENCY;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--concurrency expects a positive integer, got '${value}'.`);
  return n;
}

async function register(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean' },
      concurrency: { type: 'string' },
      'secret-id': { type: 'string' },
      ...REGISTRY_FLAGS,
    },
  });
  const concurrency = parseConcurrency(values.concurrency);
  const naming = namingFrom(values, io.env);
  const registry = cliRegistryFromEnv(io.env, {
    trackingUri: values['tracking-uri'],
    secretId: values['secret-id'],
  });
  try {
    return await registerCommand(
      {
        paths: positionals.length > 0 ? positionals : ['prompts'],
        naming,
        concurrency,
        dryRun: values['dry-run'] === true,
        experiment: experimentFromEnv(io.env),
      },
      registry,
      io,
    );
  } finally {
    registry.close();
  }
}

const COMMANDS: Readonly<Record<string, (args: readonly string[], io: CliIo) => Promise<number>>> = {
  show,
  format,
  register,
  snapshot: snapshotCommand,
  verify: verifyCommand,
  predict: predictCommand,
  feedback: feedbackCommand,
  experiment: experimentCommand,
  ...PROMOTE_COMMANDS,
};

/** The usage lines of one command (its synopsis and continuation lines), or undefined. */
export function usageOf(command: string): string | undefined {
  const lines = USAGE.split('\n');
  const picked: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    if (!line.startsWith(`  promptops ${command} `) && line !== `  promptops ${command}`) continue;
    picked.push(line);
    // Continuation lines are indented further than the synopsis.
    while ((lines[i + 1] ?? '').startsWith('                     ')) picked.push(lines[++i] as string);
  }
  return picked.length > 0 ? picked.join('\n') : undefined;
}

/** Levenshtein distance, for "did you mean" (short words only). */
function distance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Number.POSITIVE_INFINITY;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** The closest of `known` to `typed`, when it is close enough to be a typo. */
export function didYouMean(typed: string, known: readonly string[]): string | undefined {
  let best: { word: string; d: number } | undefined;
  for (const word of known) {
    const d = distance(typed, word);
    if (!best || d < best.d) best = { word, d };
  }
  return best && best.d <= Math.max(1, Math.floor(typed.length / 3)) ? best.word : undefined;
}

/** A usage error as one line, the command's own usage (not the whole of it), and where the rest is. */
function usageFailure(command: string | undefined, message: string): string {
  const own = command === undefined ? undefined : usageOf(command);
  return [
    `promptops: ${oneLine(message)}`,
    ...(own ? [`usage:\n${own}`] : []),
    "Run 'promptops --help' for every command and flag.",
  ].join('\n');
}

/** Node's own message for an unknown flag quotes oddly: ours names the flag, and a near one. */
function parseArgsMessage(error: { code?: unknown; message: string }, command: string | undefined): string {
  const unknown = /^Unknown option '(--?[^']{1,64})'/.exec(error.message);
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    // The command's own flags, and those its section shares with others (--api, --json, ...).
    const shared = [
      '--api',
      '--region',
      '--local-principal',
      '--json',
      '--tracking-uri',
      '--catalog',
      '--schema',
      '--prefix',
    ];
    const flags = [
      ...new Set([...((usageOf(command ?? '') ?? '').match(/--[a-z][a-z-]*/g) ?? []), ...shared]),
    ];
    const bare = (flag: string) => flag.replace(/^-+/, '');
    const near = didYouMean(bare(unknown[1] as string), flags.map(bare));
    return `unknown flag '${unknown[1]}'${command ? ` for ${command}` : ''}.${near ? ` Did you mean '--${near}'?` : ''}`;
  }
  return error.message;
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  // Own properties only: `promptops constructor` is an unknown command, not Object's.
  const handler = own(COMMANDS, command);
  try {
    if (!handler) {
      const near = didYouMean(command, Object.keys(COMMANDS));
      throw new UsageError(`unknown command '${command}'.${near ? ` Did you mean '${near}'?` : ''}`);
    }
    return await handler(args, io);
  } catch (error) {
    const parseArgsError = (error as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS');
    if (error instanceof UsageError || parseArgsError) {
      const message = parseArgsError
        ? parseArgsMessage(error as { code?: unknown; message: string }, handler ? command : undefined)
        : (error as Error).message;
      io.stderr(`${usageFailure(handler ? command : undefined, message)}\n`);
      return 2;
    }
    if (isPromptOpsError(error)) {
      io.stderr(`promptops: ${error.code}: ${oneLine(withoutOperation(error.message))}\n`);
      return 1;
    }
    io.stderr(`promptops: unexpected error: ${oneLine(String((error as Error)?.message ?? error))}\n`);
    return 1;
  }
}
