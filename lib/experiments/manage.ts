/**
 * Starting, changing and stopping a prompt's experiment: the same acts an alias move is, with the
 * same rules. The caller must be allowed to move every alias the experiment serves (a split of
 * `production`'s traffic is a change to production); every alias served must resolve to a version
 * the agent can format (the promotion gate); the caller's expected revision is checked under the
 * prompt's experiment lock; and every change is recorded in the experiment history, or undone.
 *
 * The rollout function (lib/experiments/rollout.ts) changes experiments through `changeExperiment`
 * too, as its own principal.
 */
import {
  AuditIncompleteError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
} from '../errors';
import { assertMayMove } from '../promote/authorize';
import { assertPassesGate } from '../promote/gate';
import {
  MIN_MS_TO_MOVE,
  mayHaveApplied,
  restorePromptTag,
  settleWrite,
  withSettleReserve,
  withUndoReserve,
} from '../promote/move-alias';
import { type ManagedPrompt, type MoveContext, managedPrompt } from '../promote/service';
import type { Prompt, RegistryClient } from '../registry';
import { remainingMs } from '../runtime/deadline';
import { own } from '../util/own';
import { parseTagList } from '../util/tag-list';
import type { ExperimentChange, ExperimentDetails, StartBody, StopBody } from './api';
import {
  EXPERIMENT_TAG,
  type ExperimentDefinition,
  endedExperiment,
  experimentOf,
  experimentTagValue,
  validateExperiment,
} from './definition';
import { parseGuards } from './guards';
import {
  appendExperimentHistory,
  EXPERIMENT_HISTORY_TAG,
  type ExperimentRecord,
  historyEntrySchema,
  parseExperimentHistory,
} from './history';

const DEFAULT_CONTROL = 'production';

/** One experiment change at a time per prompt; `@` is in no alias, so no alias lock shares it. */
const experimentLockKey = (name: string) => `${name}#@experiment`;

const weightsOf = (e: ExperimentDefinition) =>
  Object.fromEntries(e.variants.map((v) => [v.alias, v.weight_bp]));

/** The definition a start asks for, checked before any registry call; its revision is filled in later. */
export function proposedExperiment(body: StartBody, now: Date): ExperimentDefinition {
  const rollout = body.rollout;
  const variants = body.variants.map((v, i) => {
    if (rollout) {
      const first = (rollout.steps[0] as number) * 100;
      if (v.weight_bp !== undefined && v.weight_bp !== first) {
        throw new InvalidInputError(
          `variants[${i}].weight_bp: a rollout sets the variant's share (its first step is ${first} basis points); leave it out.`,
        );
      }
      return { alias: v.alias, weight_bp: first };
    }
    if (v.weight_bp === undefined)
      throw new InvalidInputError(`variants[${i}].weight_bp: expected the variant's share in basis points.`);
    return { alias: v.alias, weight_bp: v.weight_bp };
  });
  const guardrails = typeof body.guardrails === 'string' ? parseGuards(body.guardrails) : body.guardrails;
  return validateExperiment({
    id: body.id,
    revision: 1,
    control: body.control ?? DEFAULT_CONTROL,
    variants,
    key: body.key ?? 'user',
    status: 'running',
    started_at: now.toISOString(),
    ...(body.ends_at ? { ends_at: body.ends_at } : {}),
    ...(guardrails && guardrails.length > 0 ? { guardrails } : {}),
    ...(rollout ? { rollout: { steps: rollout.steps, step: 0 } } : {}),
  });
}

/** Every alias the experiment serves: control and its variants. */
const servedAliases = (e: ExperimentDefinition) => [e.control, ...e.variants.map((v) => v.alias)];

/** The same experiment, apart from its revision and when it started. */
function sameSplit(a: ExperimentDefinition, b: ExperimentDefinition): boolean {
  // In the tag's canonical form (the schema's key order), revision and start set alike.
  const canonical = (e: ExperimentDefinition) =>
    experimentTagValue({ ...e, revision: 1, started_at: a.started_at });
  return canonical(a) === canonical(b);
}

export interface ExperimentStep {
  readonly next: ExperimentDefinition;
  readonly action: ExperimentRecord['action'];
  readonly reason?: string | undefined;
}

/**
 * Changes a prompt's experiment under its lock: `decide` sees the current definition (after the
 * caller's expected revision was checked) and answers the next one, or undefined to change nothing.
 * The tag and its history entry are both written, or the tag is put back.
 */
export async function changeExperiment(
  ctx: MoveContext,
  target: ManagedPrompt,
  expected: number | null | undefined,
  decide: (
    current: ExperimentDefinition | null,
    at: string,
    prompt: Prompt,
  ) => ExperimentStep | undefined | Promise<ExperimentStep | undefined>,
): Promise<ExperimentChange> {
  return ctx.lock.withLock(experimentLockKey(target.name), async () => {
    const prompt = await ctx.registry.getPrompt(target.name);
    const { experiment: current } = experimentOf(prompt);
    const currentRevision = current?.revision ?? null;
    // A number: the experiment must be at that revision; null: none may be running.
    const stale =
      expected === null
        ? current?.status === 'running'
        : expected !== undefined && expected !== currentRevision;
    if (stale) {
      throw new ConflictError(
        `The experiment of '${target.name}' is at ${currentRevision === null ? 'no revision' : `revision ${currentRevision} (${current?.status})`}, ` +
          `not ${expected === null ? 'stopped or absent' : `revision ${expected}`} as expected; nothing was changed.`,
      );
    }
    const at = ctx.now().toISOString();
    const step = await decide(current, at, prompt);
    const base = {
      prompt: target.prompt,
      name: target.name,
      previousRevision: currentRevision,
      by: ctx.principal,
      at,
    };
    if (step === undefined) {
      if (current === null) throw new NotFoundError(`'${target.name}' has no experiment.`);
      return { ...base, action: 'change', changed: false, experiment: current };
    }
    const history = parseTagList(prompt.tags[EXPERIMENT_HISTORY_TAG], historyEntrySchema);
    // A history that lost entries is rewritten without them: its old value is handed over first.
    if (history.damaged) ctx.onDamagedHistory?.(prompt.tags[EXPERIMENT_HISTORY_TAG] as string);
    // Revisions only grow, across experiments too, and past a tag edited away: `id#revision` on a
    // trace names one split.
    const highest = Math.max(currentRevision ?? 0, ...history.entries.map((e) => e.revision));
    const next = validateExperiment({ ...step.next, revision: highest + 1 });
    const left = remainingMs();
    if (left < MIN_MS_TO_MOVE) {
      throw new UnavailableError(
        'Too little time is left to change the experiment and record it; nothing was changed.',
      );
    }
    const entry: ExperimentRecord = {
      action: step.action,
      id: next.id,
      revision: next.revision,
      weights: weightsOf(next),
      by: ctx.principal,
      at,
      ...(step.reason ? { reason: step.reason } : {}),
    };
    await writeRecorded(
      ctx.registry,
      target.name,
      prompt,
      next,
      appendExperimentHistory(history.entries, entry),
      left,
    );
    return { ...base, action: step.action, changed: true, experiment: next };
  });
}

async function writeRecorded(
  registry: RegistryClient,
  name: string,
  before: Prompt,
  next: ExperimentDefinition,
  history: readonly ExperimentRecord[],
  left: number,
): Promise<void> {
  const value = experimentTagValue(next);
  const write = () => registry.setPromptTag(name, EXPERIMENT_TAG, value);
  let uncertain = false;
  try {
    await withSettleReserve(left, write);
  } catch (failure) {
    // Not answered: made certain, or found made, before it is recorded; else reported.
    uncertain = true;
    await settleWrite(failure, {
      write,
      applied: async () => (await registry.getPrompt(name)).tags[EXPERIMENT_TAG] === value,
      incomplete: (cause) =>
        new AuditIncompleteError(
          `The experiment of '${name}' may have been changed to revision ${next.revision}: the registry ` +
            `did not answer, and the change could be neither confirmed nor found made. It is not recorded; check it.`,
          { cause },
        ),
    });
  }
  try {
    await withUndoReserve(() => registry.setPromptTag(name, EXPERIMENT_HISTORY_TAG, JSON.stringify(history)));
  } catch (failure) {
    // A change is recorded or it did not happen: the split goes back to what it was, and so does
    // its history when the failed write may have reached it.
    try {
      await restorePromptTag(registry, name, EXPERIMENT_TAG, before.tags[EXPERIMENT_TAG]);
    } catch (undoFailure) {
      throw new AuditIncompleteError(
        `The experiment of '${name}' was changed to revision ${next.revision}, but the change could not be ` +
          `recorded, nor undone (${(undoFailure as Error).message}).`,
        { cause: failure },
      );
    }
    if (mayHaveApplied(failure)) {
      try {
        await restorePromptTag(registry, name, EXPERIMENT_HISTORY_TAG, before.tags[EXPERIMENT_HISTORY_TAG]);
      } catch (undoFailure) {
        throw new AuditIncompleteError(
          `The experiment of '${name}' was put back, but its history may hold an entry for revision ` +
            `${next.revision}, which was not made (${(undoFailure as Error).message}).`,
          { cause: failure },
        );
      }
    }
    if (uncertain) {
      throw new AuditIncompleteError(
        `The experiment of '${name}' was put back after its change could not be recorded, but an earlier ` +
          `attempt of the change to revision ${next.revision} may still land; check it.`,
        { cause: failure },
      );
    }
    throw failure;
  }
}

/**
 * Refuses an experiment the caller may not run, or whose aliases the agent could not serve; the
 * experiment with the version each variant alias serves now recorded.
 */
async function servable(
  ctx: MoveContext,
  target: ManagedPrompt,
  e: ExperimentDefinition,
): Promise<ExperimentDefinition> {
  for (const alias of servedAliases(e)) assertMayMove(ctx.policy, alias, ctx.principal);
  // Registration moves staging with every upload: a variant there would change under the split.
  const moving = e.variants.find((v) => v.alias.toLowerCase() === 'staging');
  if (moving) {
    throw new InvalidInputError(
      "A variant cannot be 'staging': every upload moves it. Promote the version to an alias of its own (e.g. --to candidate) and use that.",
    );
  }
  const [control, ...variants] = await Promise.all(
    servedAliases(e).map(async (alias) => {
      const version = await ctx.registry.resolveAlias(target.name, alias);
      assertPassesGate(target.prompt, version);
      return version.version;
    }),
  );
  return {
    ...e,
    control_version: control as number,
    variants: e.variants.map((v, i) => ({ ...v, version: variants[i] as number })),
  };
}

/** Refuses a start whose aliases moved between their gate check and the lock. */
function assertUnmoved(prompt: Prompt, e: ExperimentDefinition): void {
  const pairs: [string, number | undefined][] = [
    [e.control, e.control_version],
    ...e.variants.map((v): [string, number | undefined] => [v.alias, v.version]),
  ];
  for (const [alias, version] of pairs) {
    const now = own(prompt.aliases, alias);
    if (version !== undefined && now !== version) {
      throw new ConflictError(
        `Alias '${alias}' moved (to ${now === undefined ? 'nowhere' : `version ${now}`}) while the experiment was being set; nothing was changed: try again.`,
      );
    }
  }
}

export async function startExperiment(
  ctx: MoveContext,
  pathName: string,
  body: StartBody,
): Promise<ExperimentChange> {
  const target = managedPrompt(pathName, ctx.naming);
  const proposed = await servable(ctx, target, proposedExperiment(body, ctx.now()));
  return changeExperiment(ctx, target, body.expectedRevision, (current, _at, prompt) => {
    assertUnmoved(prompt, proposed);
    const running = current?.status === 'running';
    if (running && current.id !== proposed.id) {
      throw new ConflictError(
        `Experiment '${current.id}' is running on '${target.name}'; stop it before starting '${proposed.id}'.`,
      );
    }
    if (!running || current.id !== proposed.id)
      return { next: proposed, action: 'start', reason: body.reason };
    // The same experiment again: a change of its split, keeping how users are assigned.
    if (current.key !== proposed.key || current.control !== proposed.control) {
      throw new InvalidInputError(
        `Experiment '${current.id}' assigns by ${current.key} against '${current.control}'; changing that would ` +
          'move users between arms: start a new experiment instead.',
      );
    }
    // The same rollout again keeps its progress (the step reached and the share it gives).
    const sameRollout =
      proposed.rollout !== undefined &&
      current.rollout !== undefined &&
      proposed.rollout.steps.join() === current.rollout.steps.join();
    const next = {
      ...proposed,
      started_at: current.started_at,
      ...(sameRollout ? { rollout: current.rollout, variants: current.variants } : {}),
    };
    return sameSplit(current, next) ? undefined : { next, action: 'change', reason: body.reason };
  });
}

export async function stopExperiment(
  ctx: MoveContext,
  pathName: string,
  body: StopBody,
): Promise<ExperimentChange> {
  const target = managedPrompt(pathName, ctx.naming);
  return changeExperiment(ctx, target, body.expectedRevision, (current, at) => {
    if (current === null) throw new NotFoundError(`'${target.name}' has no experiment to stop.`);
    for (const alias of servedAliases(current)) assertMayMove(ctx.policy, alias, ctx.principal);
    if (current.status !== 'running') return undefined;
    return { next: endedExperiment(current, 'halted', at), action: 'stop', reason: body.reason };
  });
}

export async function showExperiment(
  registry: RegistryClient,
  ctx: Pick<MoveContext, 'naming'>,
  pathName: string,
): Promise<ExperimentDetails> {
  const target = managedPrompt(pathName, ctx.naming);
  const prompt = await registry.getPrompt(target.name);
  const { experiment, problem } = experimentOf(prompt);
  return {
    prompt: target.prompt,
    name: target.name,
    experiment,
    problem,
    aliases: prompt.aliases,
    history: parseExperimentHistory(prompt.tags[EXPERIMENT_HISTORY_TAG]).reverse(),
  };
}
