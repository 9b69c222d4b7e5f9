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

/**
 * What registering a file would do, decided by reads alone so that `promptops register --dry-run`
 * answers exactly as the real run does. Unchanged content implies a latest version to compare with.
 */
export type RegistrationPlan =
  | {
      readonly name: string;
      readonly hash: string;
      readonly latest: PromptVersion | undefined;
      readonly changed: true;
    }
  | { readonly name: string; readonly hash: string; readonly latest: PromptVersion; readonly changed: false };

export async function planRegistration(
  registry: RegistryClient,
  file: PromptFile,
  options: RegisterOptions = {},
): Promise<RegistrationPlan> {
  const name = registryName(file.name, options.naming);
  const hash = contentHash(file);
  const latest = await latestVersion(registry, name);
  if (latest !== undefined && latest.tags[CONTENT_HASH_TAG] === hash) {
    return { name, hash, latest, changed: false };
  }
  return { name, hash, latest, changed: true };
}

/**
 * Unchanged content needs no alias moved, unless an earlier run stopped before moving `staging`
 * onto it.
 */
export function aliasesInPlace(plan: RegistrationPlan & { readonly changed: false }): boolean {
  return plan.latest.aliases.includes(STAGING_ALIAS);
}

/** The prompt's aliases before this registration; a prompt without versions has none. */
export async function currentAliases(
  registry: RegistryClient,
  plan: RegistrationPlan,
): Promise<Readonly<Record<string, number>>> {
  return plan.latest === undefined ? {} : (await registry.getPrompt(plan.name)).aliases;
}

/** `staging` follows the registered content; `production` is set only when the prompt has none. */
export function aliasMoves(current: Readonly<Record<string, number>>, version: number): AliasMove[] {
  const moves: AliasMove[] = [{ alias: STAGING_ALIAS, version, previousVersion: current[STAGING_ALIAS] }];
  if (current[PRODUCTION_ALIAS] === undefined) {
    moves.push({ alias: PRODUCTION_ALIAS, version, previousVersion: undefined });
  }
  return moves;
}

export async function registerPromptFile(
  registry: RegistryClient,
  file: PromptFile,
  options: RegisterOptions = {},
): Promise<RegisterOutcome> {
  const plan = await planRegistration(registry, file, options);
  const { name, hash } = plan;

  let target: PromptVersion;
  if (!plan.changed) {
    target = plan.latest;
    if (aliasesInPlace(plan)) {
      return {
        source: file.source,
        name,
        status: 'unchanged',
        version: target.version,
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
  }

  const moves = aliasMoves(await currentAliases(registry, plan), target.version);
  for (const move of moves) await registry.setAlias(name, move.alias, move.version);
  return {
    source: file.source,
    name,
    status: plan.changed ? 'created' : 'unchanged',
    version: target.version,
    contentHash: hash,
    aliasesMoved: moves,
  };
}
