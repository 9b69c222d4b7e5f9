import { type ParseArgsConfig, parseArgs } from 'node:util';
import { InvalidInputError } from '../errors';
import { type NamingOptions, namingFromEnv, registryName } from '../prompts/naming';

/** What a CLI command may touch, so tests run commands in-process with fakes. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal: progress lines are for people watching, not for logs. */
  readonly isTTY?: boolean | undefined;
}

/** A mistake in how the command was called: exit code 2 and a usage hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A message on one line, as the CLI prints errors: each line trimmed, blank ones dropped, joined
 * by a space. Linear in the text's length (a regular expression with whitespace on both sides of
 * the newline took seconds on a long run of spaces).
 */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

export { withoutOperation } from '../errors/without-operation';

/** Runs `parse`; our InvalidInputError (a bad name, a bad value) becomes a usage error. */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidInputError) throw new UsageError(error.message);
    throw error;
  }
}

/** Registry naming from `--catalog`/`--schema`/`--prefix`, each defaulting to its environment variable. */
export function namingFrom(
  values: { catalog?: string | undefined; schema?: string | undefined; prefix?: string | undefined },
  env: NodeJS.ProcessEnv,
): NamingOptions {
  const fromEnv = namingFromEnv(env);
  const naming: NamingOptions = {
    catalog: values.catalog ?? fromEnv.catalog,
    schema: values.schema ?? fromEnv.schema,
    prefix: values.prefix ?? fromEnv.prefix,
  };
  // Checked once with a valid short name, so a bad catalog or prefix is a usage error, not N failures.
  asUsage(() => registryName('prompt', naming));
  return naming;
}

/** The flags that say which registry and which naming a command works on. */
export const REGISTRY_FLAGS = {
  'tracking-uri': { type: 'string' },
  catalog: { type: 'string' },
  schema: { type: 'string' },
  prefix: { type: 'string' },
} as const;

/** A command's flags and positionals, parsed strictly (an unknown flag is a usage error). */
export function commandLine<const O extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: O,
) {
  return parseArgs({ args: [...args], allowPositionals: true, strict: true, options });
}
