/**
 * The registration core shared by the S3-triggered function, `promptops register` and the local
 * run: a prompt file becomes a new version only when its content differs from the latest
 * version's, `staging` follows the newest content, and `production` is set only when the prompt
 * has none yet (first registration). Promotion is a separate, deliberate act.
 */
import { NotFoundError } from '../errors';
import type { PromptFile } from '../prompts/file';
import { type NamingOptions, registryName } from '../prompts/naming';
import type { PromptVersion, RegistryClient } from '../registry';
import { CONTENT_HASH_TAG, contentHash } from './content-hash';

export const STAGING_ALIAS = 'staging';
export const PRODUCTION_ALIAS = 'production';

export interface AliasMove {
  readonly alias: string;
  readonly version: number;
  readonly previousVersion: number | undefined;
}

export interface RegisterOutcome {
  readonly source: string;
  readonly name: string;
  readonly status: 'created' | 'unchanged';
  readonly version: number;
  readonly contentHash: string;
  readonly aliasesMoved: readonly AliasMove[];
}

export interface RegisterOptions {
  readonly naming?: NamingOptions | undefined;
  /** Extra version tags recording where the file came from (bucket, key, ETag...). */
  readonly provenance?: Readonly<Record<string, string>> | undefined;
}

async function latestVersion(registry: RegistryClient, name: string): Promise<PromptVersion | undefined> {
  try {
    return await registry.resolveAlias(name, 'latest');
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

export async function registerPromptFile(
  registry: RegistryClient,
  file: PromptFile,
  options: RegisterOptions = {},
): Promise<RegisterOutcome> {
  const name = registryName(file.name, options.naming);
  const hash = contentHash(file);
  const latest = await latestVersion(registry, name);
  const moves: AliasMove[] = [];

  let target: PromptVersion;
  let status: RegisterOutcome['status'];
  if (latest !== undefined && latest.tags[CONTENT_HASH_TAG] === hash) {
    // Unchanged: nothing to write, unless an earlier run stopped before moving `staging`.
    target = latest;
    status = 'unchanged';
    if (latest.aliases.includes(STAGING_ALIAS)) {
      return {
        source: file.source,
        name,
        status,
        version: latest.version,
        contentHash: hash,
        aliasesMoved: [],
      };
    }
  } else {
    target = await registry.registerPrompt({
      name,
      template: file.template,
      commitMessage: file.commitMessage ?? file.description,
      tags: { ...file.tags, ...options.provenance, [CONTENT_HASH_TAG]: hash },
      modelConfig: file.modelConfig,
      responseFormat: file.responseFormat,
    });
    status = 'created';
  }

  const aliases = latest === undefined ? {} : (await registry.getPrompt(name)).aliases;
  await registry.setAlias(name, STAGING_ALIAS, target.version);
  moves.push({ alias: STAGING_ALIAS, version: target.version, previousVersion: aliases[STAGING_ALIAS] });
  if (aliases[PRODUCTION_ALIAS] === undefined) {
    await registry.setAlias(name, PRODUCTION_ALIAS, target.version);
    moves.push({ alias: PRODUCTION_ALIAS, version: target.version, previousVersion: undefined });
  }
  return {
    source: file.source,
    name,
    status,
    version: target.version,
    contentHash: hash,
    aliasesMoved: moves,
  };
}
