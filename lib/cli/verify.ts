/**
 * `promptops verify`: the checks the scheduled verify function runs (lib/verify), from CI or a
 * shell: a table for people, or one JSON object with --json. Exit 0 when nothing failed (warnings
 * allowed), 1 when something did, 2 on wrong usage. CI runs it after `register` and before
 * `promote`.
 */
import { contractForDirectory } from '../agent/directory-contract';
import { loadPromptFiles } from '../prompts/directory';
import { validateWritableAlias } from '../prompts/names';
import type { VerifyReport } from '../verify/checks';
import { DEFAULT_VERIFY_ALIASES, verifyThrough } from '../verify/verify';
import { asUsage, type CliIo, commandLine, namingFrom, REGISTRY_FLAGS, UsageError } from './io';
import { cliRegistryFromEnv } from './registry-from-env';
import { formatTable } from './summary';

const MARK = { ok: 'ok', warn: 'WARN', fail: 'FAIL' } as const;

export function describeReport(result: VerifyReport): string {
  const rows = result.checks.map((c) => [
    MARK[c.status],
    c.prompt,
    c.alias ?? '-',
    c.version === null ? '-' : String(c.version),
    c.code,
    c.message,
  ]);
  const failed = result.checks.filter((c) => c.status === 'fail').length;
  const warned = result.checks.filter((c) => c.status === 'warn').length;
  const verdict = result.ok
    ? `every alias resolves to a version the agent can use${warned > 0 ? ` (${warned} warning(s))` : ''}`
    : `${failed} failure(s), ${warned} warning(s)`;
  return `${formatTable(['', 'prompt', 'alias', 'version', 'code', 'what to do'], rows)}\n${verdict}\n`;
}

export async function verifyCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = commandLine(args, {
    ...REGISTRY_FLAGS,
    'secret-id': { type: 'string' },
    alias: { type: 'string', multiple: true },
    prompts: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError('verify takes no arguments; name aliases with --alias.');
  const aliases = values.alias
    ? // `latest` and `v<N>` are not aliases a prompt carries: there is nothing to check.
      [...new Set(values.alias.map((a) => asUsage(() => validateWritableAlias(a))))]
    : DEFAULT_VERIFY_ALIASES;
  const dir = values.prompts;
  const contract = contractForDirectory(dir ?? 'prompts');
  // --prompts DIR: the prompts whose files are there; the contract applies to the agent's own.
  let prompts: string[] | undefined;
  try {
    prompts = dir === undefined ? undefined : (await loadPromptFiles([dir])).map((f) => f.name);
  } catch (error) {
    throw new UsageError(`--prompts ${dir}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const naming = namingFrom(values, io.env);
  const registry = cliRegistryFromEnv(io.env, {
    trackingUri: values['tracking-uri'],
    secretId: values['secret-id'],
  });
  try {
    const result = await verifyThrough(registry, { naming, contract, aliases, prompts });
    io.stdout(values.json ? `${JSON.stringify(result)}\n` : describeReport(result));
    return result.ok ? 0 : 1;
  } finally {
    registry.close();
  }
}
