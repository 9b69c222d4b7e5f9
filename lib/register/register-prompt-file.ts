/**
 * The registration core shared by the S3-triggered function, `promptops register` and the local
 * run: a prompt file becomes a new version only when its content differs from the latest
 * version's, `staging` follows the newest content, and `production` is set only when the prompt
 * has none yet (first registration). Promotion is a separate, deliberate act.
 */
import { AlreadyExistsError, isPromptOpsError, NotFoundError } from '../errors';
import { type AliasLock, aliasLockKey } from '../promote/alias-lock';
import { moveAlias } from '../promote/move-alias';
import type { PromptFile } from '../prompts/file';
import { type NamingOptions, registryName } from '../prompts/naming';
import type { CreatePromptInput, Prompt, PromptState, PromptVersion, RegistryClient } from '../registry';
import { addExperiment, EXPERIMENT_IDS_TAG, hasExperiment } from '../registry/experiments';
import { isCredentialRefusal } from '../runtime/registry-provider';
import { CONTENT_HASH_TAG, contentHash } from './content-hash';

export const STAGING_ALIAS = 'staging';
/** The "by" of a registration's alias moves when the caller names no one. */
export const DEFAULT_REGISTRAR = 'register';
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
  /** Why the prompt could not be listed on the experiment (registration went on), when it could not. */
  readonly experimentNotListed?: string;
}

export interface RegisterOptions {
  readonly naming?: NamingOptions | undefined;
  /** Extra version tags recording where the file came from (bucket, key, ETag...). */
  readonly provenance?: Readonly<Record<string, string>> | undefined;
  /**
   * The MLflow experiment to list the prompt on (its `_mlflow_experiment_ids` tag), as MLflow's
   * SDK does on registration: set with the prompt when it is created, added once to an existing
   * prompt that lacks it. Unset: not touched.
   */
  readonly experimentId?: string | undefined;
  /** Who registers, in the aliases' history (the S3 uploader); default `register`. */
  readonly by?: string | undefined;
  /**
   * The alias lock the promote API moves under: given, an upload's alias moves take it too, so a
   * promotion to `staging` and an upload never interleave their history writes.
   */
  readonly lock?: AliasLock | undefined;
  readonly now?: (() => Date) | undefined;
  /** Told of an alias history that held unreadable entries, before it is rewritten without them. */
  readonly onDamagedHistory?: ((previousValue: string) => void) | undefined;
}

/** The prompt and its latest version in one read; `undefined` for a prompt not registered yet. */
async function promptState(registry: RegistryClient, name: string): Promise<PromptState | undefined> {
  try {
    return await registry.inspectPrompt(name);
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
      /** The prompt as it is, `undefined` when it does not exist yet. */
      readonly prompt: Prompt | undefined;
      readonly latest: PromptVersion | undefined;
      readonly changed: true;
    }
  | {
      readonly name: string;
      readonly hash: string;
      readonly prompt: Prompt;
      readonly latest: PromptVersion;
      readonly changed: false;
    };

export async function planRegistration(
  registry: RegistryClient,
  file: PromptFile,
  options: RegisterOptions = {},
): Promise<RegistrationPlan> {
  const name = registryName(file.name, options.naming);
  const hash = contentHash(file);
  const state = await promptState(registry, name);
  const latest = state?.latest;
  if (state !== undefined && latest !== undefined && latest.tags[CONTENT_HASH_TAG] === hash) {
    return { name, hash, prompt: state.prompt, latest, changed: false };
  }
  return { name, hash, prompt: state?.prompt, latest, changed: true };
}

/**
 * The alias moves unchanged content still needs: none, unless an earlier run stopped before
 * moving `staging` onto it, or before giving a new prompt its `production`.
 */
export function pendingMoves(plan: RegistrationPlan & { readonly changed: false }): AliasMove[] {
  return aliasMoves(plan.prompt.aliases, plan.latest.version).filter(
    (move) => plan.prompt.aliases[move.alias] !== move.version,
  );
}

/** The prompt's aliases before this registration; a new prompt has none. */
export function currentAliases(plan: RegistrationPlan): Readonly<Record<string, number>> {
  return plan.prompt?.aliases ?? {};
}

/** `staging` follows the registered content; `production` is set only when the prompt has none. */
export function aliasMoves(current: Readonly<Record<string, number>>, version: number): AliasMove[] {
  const moves: AliasMove[] = [{ alias: STAGING_ALIAS, version, previousVersion: current[STAGING_ALIAS] }];
  if (current[PRODUCTION_ALIAS] === undefined) {
    moves.push({ alias: PRODUCTION_ALIAS, version, previousVersion: undefined });
  }
  return moves;
}

async function createPromptOnce(registry: RegistryClient, input: CreatePromptInput): Promise<void> {
  try {
    await registry.createPrompt(input);
  } catch (error) {
    // Created meanwhile by another writer: the version goes onto it all the same.
    if (!(error instanceof AlreadyExistsError)) throw error;
  }
}

export async function registerPromptFile(
  registry: RegistryClient,
  file: PromptFile,
  options: RegisterOptions = {},
): Promise<RegisterOutcome> {
  const plan = await planRegistration(registry, file, options);
  const { name, hash } = plan;
  const { experimentId } = options;
  // An existing prompt not yet listed on the experiment gets it added, once (a new one is created
  // with it). Best effort, as in MLflow's SDK: a refusal is reported, the registration goes on.
  let experimentNotListed: string | undefined;
  if (
    experimentId !== undefined &&
    plan.prompt !== undefined &&
    !hasExperiment(plan.prompt.tags[EXPERIMENT_IDS_TAG], experimentId)
  ) {
    try {
      await registry.setPromptTag(
        name,
        EXPERIMENT_IDS_TAG,
        addExperiment(plan.prompt.tags[EXPERIMENT_IDS_TAG], experimentId),
      );
    } catch (error) {
      // Our credentials refused: the caller's credential refresh must see it.
      if (isCredentialRefusal(error) || !isPromptOpsError(error)) throw error;
      experimentNotListed = `${error.code}: ${error.message}`;
    }
  }
  const noted = experimentNotListed === undefined ? {} : { experimentNotListed };

  let target: PromptVersion;
  let moves: AliasMove[];
  if (!plan.changed) {
    target = plan.latest;
    moves = pendingMoves(plan);
    if (moves.length === 0) {
      return {
        source: file.source,
        name,
        status: 'unchanged',
        version: target.version,
        contentHash: hash,
        aliasesMoved: [],
        ...noted,
      };
    }
  } else {
    const version = {
      name,
      template: file.template,
      commitMessage: file.commitMessage ?? file.description,
      tags: { ...file.tags, ...options.provenance, [CONTENT_HASH_TAG]: hash },
      modelConfig: file.modelConfig,
      responseFormat: file.responseFormat,
    };
    // Only the file's own tags go on the prompt (as MLflow's SDK puts a first registration's tags
    // there); provenance and the content hash describe a version, not the prompt.
    if (plan.prompt === undefined) {
      const listed =
        experimentId === undefined ? {} : { [EXPERIMENT_IDS_TAG]: addExperiment(undefined, experimentId) };
      await createPromptOnce(registry, {
        name,
        description: file.description,
        tags: { ...file.tags, ...listed },
      });
    }
    target = await registry.createPromptVersion(version, { latestVersion: plan.latest?.version ?? 0 });
    moves = aliasMoves(currentAliases(plan), target.version);
  }

  // Each move is an audited move, like a promotion: in the alias's history, or not made at all.
  for (const move of moves) {
    const made = () =>
      moveAlias(registry, {
        name,
        alias: move.alias,
        version: move.version,
        action: 'register',
        by: options.by ?? DEFAULT_REGISTRAR,
        now: options.now?.() ?? new Date(),
        onDamagedHistory: options.onDamagedHistory,
      });
    await (options.lock ? options.lock.withLock(aliasLockKey(name, move.alias), made) : made());
  }
  return {
    source: file.source,
    name,
    status: plan.changed ? 'created' : 'unchanged',
    version: target.version,
    contentHash: hash,
    aliasesMoved: moves,
    ...noted,
  };
}
