/**
 * What the promote API does, free of HTTP: promote, roll back, describe and list the agent's
 * prompts. Every move is authorised, gated, made under the alias's lock and recorded.
 *
 * Order of a move: refuse what the caller may not do (403) and bad input before any registry call;
 * read and gate the target version outside the lock (it cannot change: versions are immutable);
 * then, holding the lock, re-read the aliases, check the caller's expectations and move.
 */
import { agentPrompts, isAgentPrompt, notAgentPrompt } from '../agent/contract';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors';
import { experimentOf, isLive } from '../experiments/definition';
import type { NamingOptions } from '../prompts/naming';
import { registryName, shortNameOf } from '../prompts/naming';
import { CONTENT_HASH_TAG } from '../register/content-hash';
import type { Prompt, PromptVersion, RegistryClient } from '../registry';
import { type AliasLock, aliasLockKey as lockKey } from './alias-lock';
import {
  DEFAULT_FROM,
  DEFAULT_TO,
  type MoveResponse,
  type PromoteBody,
  type PromptDetails,
  type PromptListing,
  type RollbackBody,
  type VersionSummary,
} from './api';
import { assertMayMove, type ProtectionPolicy } from './authorize';
import { assertPassesGate } from './gate';
import { HISTORY_TAG_PREFIX, historyTag, parseHistory, rollbackTarget } from './history';
import { type MoveResult, moveAlias } from './move-alias';

export interface MoveContext {
  readonly registry: RegistryClient;
  readonly lock: AliasLock;
  readonly naming: NamingOptions;
  readonly policy: ProtectionPolicy;
  readonly principal: string;
  readonly now: () => Date;
  /** See MoveRequest.onDamagedHistory. */
  readonly onDamagedHistory?: ((previousValue: string) => void) | undefined;
}

export interface ManagedPrompt {
  /** The registry name. */
  readonly name: string;
  /** The agent's name (`orchestrator`). */
  readonly prompt: string;
}

/**
 * The prompt a path names: the agent's name or the registry name under this deployment's naming.
 * Only the agent's prompts are managed here: anything else is a 404.
 */
export function managedPrompt(pathName: string, naming: NamingOptions): ManagedPrompt {
  const short = isAgentPrompt(pathName) ? pathName : shortNameOf(pathName, naming);
  if (short === undefined || !isAgentPrompt(short)) {
    throw new NotFoundError(notAgentPrompt(pathName));
  }
  return { name: registryName(short, naming), prompt: short };
}

/**
 * An alias a live experiment serves (a variant, or its control) is as protected as the
 * experiment's control: repointing the variant of a split of production's traffic changes what
 * production's users get, and what a rollout would promote.
 */
function assertMayMoveServed(ctx: MoveContext, prompt: Prompt, alias: string): void {
  const { experiment } = experimentOf(prompt);
  if (experiment === null || !isLive(experiment, ctx.now().getTime())) return;
  const served = [experiment.control, ...experiment.variants.map((v) => v.alias)];
  if (!served.some((a) => a.toLowerCase() === alias.toLowerCase())) return;
  try {
    assertMayMove(ctx.policy, experiment.control, ctx.principal);
  } catch (error) {
    throw new ForbiddenError(
      `The alias '${alias}' is served by experiment '${experiment.id}', which splits '${experiment.control}''s traffic: only the principals that may move '${experiment.control}' may move it (or stop the experiment first).`,
      { cause: error },
    );
  }
}

function answer(target: ManagedPrompt, action: MoveResponse['action'], moved: MoveResult): MoveResponse {
  return { ...moved, prompt: target.prompt, action };
}

export async function promote(ctx: MoveContext, pathName: string, body: PromoteBody): Promise<MoveResponse> {
  const target = managedPrompt(pathName, ctx.naming);
  const from = body.from ?? DEFAULT_FROM;
  const to = body.to ?? DEFAULT_TO;
  if (from === to) throw new InvalidInputError(`'from' and 'to' are the same alias ('${to}').`);
  assertMayMove(ctx.policy, to, ctx.principal);

  const source: PromptVersion =
    typeof from === 'number'
      ? await ctx.registry.getPromptVersion(target.name, from)
      : await ctx.registry.resolveAlias(target.name, from);
  assertPassesGate(target.prompt, source);

  const moved = await ctx.lock.withLock(lockKey(target.name, to), () =>
    moveAlias(ctx.registry, {
      name: target.name,
      alias: to,
      version: source.version,
      expectedVersion: body.expectedVersion,
      from: typeof from === 'string' ? { alias: from, version: source.version } : undefined,
      action: 'promote',
      by: ctx.principal,
      reason: body.reason,
      now: ctx.now(),
      onDamagedHistory: ctx.onDamagedHistory,
      check: (prompt) => assertMayMoveServed(ctx, prompt, to),
    }),
  );
  return answer(target, 'promote', moved);
}

export async function rollback(
  ctx: MoveContext,
  pathName: string,
  body: RollbackBody,
): Promise<MoveResponse> {
  const target = managedPrompt(pathName, ctx.naming);
  const alias = body.alias ?? DEFAULT_TO;
  assertMayMove(ctx.policy, alias, ctx.principal);

  // Where to is decided on what the caller's request saw; the move then insists the alias is
  // still there, so a rollback racing another move conflicts instead of undoing the wrong one.
  const { prompt } = await ctx.registry.inspectPrompt(target.name);
  const current = prompt.aliases[alias] ?? null;
  const history = parseHistory(prompt.tags[historyTag(alias)]).entries;
  const version = body.toVersion ?? rollbackTarget(history, current);
  if (version === undefined) {
    throw new ConflictError(
      `Alias '${alias}' of '${target.name}' has no recorded earlier version to roll back to` +
        `${current === null ? ' (it points nowhere)' : ` from version ${current}`}; pass toVersion (--to-version in the CLI).`,
    );
  }
  const destination = await ctx.registry.getPromptVersion(target.name, version);
  assertPassesGate(target.prompt, destination);

  const moved = await ctx.lock.withLock(lockKey(target.name, alias), () =>
    moveAlias(ctx.registry, {
      name: target.name,
      alias,
      version,
      expectedVersion: current,
      action: 'rollback',
      by: ctx.principal,
      reason: body.reason,
      now: ctx.now(),
      onDamagedHistory: ctx.onDamagedHistory,
      check: (prompt) => assertMayMoveServed(ctx, prompt, alias),
    }),
  );
  return answer(target, 'rollback', moved);
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** A version's line; its aliases come from the prompt (MLflow's version search leaves them out). */
function summary(version: PromptVersion, aliases: Readonly<Record<string, number>>): VersionSummary {
  return {
    version: version.version,
    createdAt: iso(version.creationTimestamp),
    commitMessage: version.commitMessage ?? null,
    contentHash: version.tags[CONTENT_HASH_TAG] ?? null,
    aliases: Object.keys(aliases)
      .filter((alias) => aliases[alias] === version.version)
      .sort(),
  };
}

function histories(prompt: Prompt): PromptDetails['history'] {
  return Object.fromEntries(
    Object.entries(prompt.tags)
      .filter(([key]) => key.startsWith(HISTORY_TAG_PREFIX))
      .map(([key, value]) => [key.slice(HISTORY_TAG_PREFIX.length), parseHistory(value).entries.reverse()]),
  );
}

export async function describePrompt(
  registry: RegistryClient,
  naming: NamingOptions,
  pathName: string,
  page: { maxResults?: number | undefined; pageToken?: string | undefined },
): Promise<PromptDetails> {
  const target = managedPrompt(pathName, naming);
  const [prompt, versions] = await Promise.all([
    registry.getPrompt(target.name),
    registry.searchPromptVersions(target.name, {
      maxResults: page.maxResults ?? 20,
      pageToken: page.pageToken,
    }),
  ]);
  return {
    name: target.name,
    prompt: target.prompt,
    aliases: prompt.aliases,
    latestVersion: prompt.latestVersion ?? null,
    versions: versions.items.map((v) => summary(v, prompt.aliases)),
    nextPageToken: versions.nextPageToken ?? null,
    history: histories(prompt),
  };
}

/**
 * The agent's prompts in name order, a page at a time; the page token is the last name of the
 * previous page. One registry request per page, whatever its size.
 */
export async function listManagedPrompts(
  registry: RegistryClient,
  naming: NamingOptions,
  page: { maxResults?: number | undefined; pageToken?: string | undefined },
): Promise<PromptListing> {
  const all = agentPrompts().sort();
  let start = 0;
  if (page.pageToken !== undefined) {
    const after = all.indexOf(page.pageToken);
    if (after < 0) throw new InvalidInputError(`Invalid pageToken '${page.pageToken}'.`);
    start = after + 1;
  }
  const size = page.maxResults ?? 50;
  const shorts = all.slice(start, start + size);
  const names = shorts.map((short) => registryName(short, naming));
  const found = new Map((await registry.findPrompts(names)).map((prompt) => [prompt.name, prompt]));
  const last = shorts.at(-1);
  return {
    prompts: shorts.map((short, i) => {
      const name = names[i] as string;
      const prompt = found.get(name);
      return {
        name,
        prompt: short,
        registered: prompt !== undefined,
        aliases: prompt?.aliases ?? {},
        latestVersion: prompt?.latestVersion ?? null,
      };
    }),
    nextPageToken: last !== undefined && start + size < all.length ? last : null,
  };
}
