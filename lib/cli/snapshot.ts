/**
 * `promptops snapshot`: what the predict function falls back to when it starts while the registry
 * is down: the prompts of the agent's contract (agent.yaml in --prompts, else the built-in one).
 * Reads what the stage's alias (and pins) serve now from the registry named by
 * MLFLOW_TRACKING_URI; without one, or when it cannot be read, the files in prompts/ (no version,
 * no alias), said on stderr. Packaging runs it (scripts/esbuild-plugins.cjs) and bundles the JSON.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type AgentContract, agentPrompts, checkUsable, isAgentPrompt } from '../agent/contract';
import { contractForDirectory } from '../agent/directory-contract';
import { InvalidInputError, isPromptOpsError } from '../errors';
import { loadSpecs } from '../predict/load-specs';
import { parsePins } from '../predict/settings';
import { type PromptSnapshot, snapshotFromFiles, snapshotFromRegistry } from '../prompt-loader/snapshot';
import { loadPromptFiles } from '../prompts/directory';
import { validateAliasName } from '../prompts/names';
import type { NamingOptions } from '../prompts/naming';
import type { Template } from '../prompts/template';
import { asUsage, type CliIo, namingFrom, oneLine, REGISTRY_FLAGS, UsageError } from './io';
import { registryFromEnv } from './registry-from-env';

async function fromFiles(
  dir: string,
  naming: NamingOptions,
  contract: AgentContract,
): Promise<PromptSnapshot> {
  const files = (await loadPromptFiles([dir])).filter((f) => isAgentPrompt(f.name, contract));
  const missing = agentPrompts(contract).filter((key) => !files.some((f) => f.name === key));
  if (missing.length > 0) throw new UsageError(`${dir} lacks the agent's prompt(s) ${missing.join(', ')}.`);
  return snapshotFromFiles(files, naming);
}

export async function snapshotCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      alias: { type: 'string' },
      pins: { type: 'string' },
      prompts: { type: 'string' },
      out: { type: 'string' },
      ...REGISTRY_FLAGS,
      'require-registry': { type: 'boolean' },
    },
  });
  if (positionals.length > 0) throw new UsageError('snapshot takes no arguments.');
  const alias = asUsage(() => validateAliasName(values.alias ?? 'production'));
  const dir = values.prompts ?? 'prompts';
  const contract = contractForDirectory(dir);
  let pins: ReturnType<typeof parsePins>;
  try {
    pins = parsePins(values.pins ?? '', contract);
  } catch (error) {
    throw new UsageError(`--pins: ${(error as Error).message}`);
  }
  const naming = namingFrom(values, io.env);
  const trackingUri = values['tracking-uri'] ?? io.env.MLFLOW_TRACKING_URI;

  let snapshot: PromptSnapshot;
  if (!trackingUri) {
    if (values['require-registry'])
      throw new UsageError('No registry: set MLFLOW_TRACKING_URI or pass --tracking-uri.');
    io.stderr(
      `promptops: no MLFLOW_TRACKING_URI: the snapshot holds the files in ${dir}/, without versions.\n`,
    );
    snapshot = await fromFiles(dir, naming, contract);
  } else {
    try {
      const registry = registryFromEnv(io.env, trackingUri);
      snapshot = await snapshotFromRegistry(registry, loadSpecs({ alias, pins }, naming, contract));
    } catch (error) {
      if (values['require-registry'] || !isPromptOpsError(error)) throw error;
      io.stderr(
        `promptops: WARNING: the registry could not be read (${error.code}: ${oneLine(error.message)}); ` +
          `the snapshot holds the files in ${dir}/, without versions.\n`,
      );
      snapshot = await fromFiles(dir, naming, contract);
    }
  }
  // A fallback the agent cannot use would fail the very requests it is there to save.
  for (const entry of snapshot.entries) {
    try {
      checkUsable(entry.key, entry.template as Template, contract);
    } catch (error) {
      if (!isPromptOpsError(error)) throw error;
      const which = entry.version === null ? entry.name : `${entry.name} version ${entry.version}`;
      throw new InvalidInputError(`${which} cannot serve as the agent's ${entry.key}: ${error.message}`, {
        cause: error,
      });
    }
  }
  const json = `${JSON.stringify(snapshot)}\n`;
  if (values.out) writeFileSync(values.out, json);
  else io.stdout(json);
  if (snapshot.source === 'registry') {
    io.stderr(
      `promptops: snapshot of ${snapshot.entries.map((e) => `${e.name}/${e.version}`).join(', ')} (@${alias})\n`,
    );
  }
  return 0;
}
