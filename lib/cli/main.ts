/**
 * `promptops`: the project's command line. Exit codes: 0 done, 1 the operation failed (one line
 * on stderr says why), 2 the command was called wrongly.
 */
import { parseArgs } from 'node:util';
import { isPromptOpsError } from '../errors';
import { formatTemplate } from '../prompts/template';
import { type CliIo, UsageError } from './io';
import { registryFromEnv } from './registry-from-env';
import { describePromptVersion, promptVersionJson } from './show';

const USAGE = `Usage:
  promptops show <prompts:/name/version | prompts:/name@alias | name> [--json]
  promptops format <prompt uri> --var key=value [--var key=value ...] [--partial]

Options:
  --tracking-uri URL   the MLflow server (default: $MLFLOW_TRACKING_URI)
Auth: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.`;

function parseVars(pairs: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--var expects key=value, got '${pair}'.`);
    values[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return values;
}

async function show(args: readonly string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { json: { type: 'boolean' }, 'tracking-uri': { type: 'string' } },
  });
  const [uri, ...rest] = positionals;
  if (uri === undefined || rest.length > 0) throw new UsageError('show takes exactly one prompt URI.');
  const prompt = await registryFromEnv(io.env, values['tracking-uri']).loadPrompt(uri);
  io.stdout(
    values.json ? `${JSON.stringify(promptVersionJson(prompt), null, 2)}\n` : describePromptVersion(prompt),
  );
}

async function format(args: readonly string[], io: CliIo): Promise<void> {
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
  const vars = parseVars(values.var ?? []);
  const prompt = await registryFromEnv(io.env, values['tracking-uri']).loadPrompt(uri);
  const formatted = formatTemplate(prompt.template, vars, { partial: values.partial === true });
  io.stdout(typeof formatted === 'string' ? `${formatted}\n` : `${JSON.stringify(formatted, null, 2)}\n`);
}

const COMMANDS: Readonly<Record<string, (args: readonly string[], io: CliIo) => Promise<void>>> = {
  show,
  format,
};

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const handler = COMMANDS[command];
  try {
    if (!handler) throw new UsageError(`unknown command '${command}'.`);
    await handler(args, io);
    return 0;
  } catch (error) {
    if (
      error instanceof UsageError ||
      (error as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS')
    ) {
      io.stderr(`promptops: ${oneLine((error as Error).message)}\n${USAGE}\n`);
      return 2;
    }
    if (isPromptOpsError(error)) {
      io.stderr(`promptops: ${error.code}: ${oneLine(error.message)}\n`);
      return 1;
    }
    io.stderr(`promptops: unexpected error: ${oneLine(String((error as Error)?.message ?? error))}\n`);
    return 1;
  }
}
