/**
 * One run of the guarded rollouts (the rollout function calls it on its schedule): every agent
 * prompt whose live experiment has a rollout is judged on its current window and advanced, held,
 * halted or completed. Completion promotes the variant's version to the control alias through the
 * promote service, as the rollout's own principal: the protected-alias rules apply to it as to
 * anyone, and the move is audited like any other. One prompt's failure does not stop the others.
 */

import { agentPrompts } from '../agent/contract';
import { ConflictError, isPromptOpsError, UnavailableError } from '../errors';
import { MAX_REASON_LENGTH, MIN_MS_TO_MOVE } from '../promote/move-alias';
import { type MoveContext, managedPrompt, promote } from '../promote/service';
import { registryName } from '../prompts/naming';
import { remainingMs } from '../runtime/deadline';
import { own } from '../util/own';
import { type ExperimentDefinition, endedExperiment, experimentOf, isLive } from './definition';
import { changeExperiment } from './manage';
import { reportOf } from './read';
import type { LatencySource, ReportOptions } from './report';
import { appliedDecision, atLastStep, decideRollout, type GuardOutcome, haltedExperiment } from './rollout';

export interface RolloutRunOptions {
  /** The MLflow experiment the agent's traces go to. */
  readonly experimentId: string;
  readonly latency: LatencySource;
  readonly report: ReportOptions;
  readonly maxTraces?: number | undefined;
}

export interface RolloutOutcome {
  readonly prompt: string;
  readonly experiment: string;
  readonly revision: number;
  /** `conflict`: another run decided this window first; nothing done here. */
  readonly action: 'hold' | 'advance' | 'halt' | 'complete' | 'conflict' | 'failed';
  readonly reason: string;
  readonly guards: readonly GuardOutcome[];
  /** The revision written, when something was. */
  readonly newRevision?: number | undefined;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

export async function runRollouts(ctx: MoveContext, options: RolloutRunOptions): Promise<RolloutOutcome[]> {
  const shorts = agentPrompts().sort();
  const prompts = await ctx.registry.findPrompts(shorts.map((s) => registryName(s, ctx.naming)));
  const outcomes: RolloutOutcome[] = [];
  for (const prompt of prompts) {
    const { experiment } = experimentOf(prompt);
    if (!experiment?.rollout || !isLive(experiment, ctx.now().getTime())) continue;
    const target = managedPrompt(prompt.name, ctx.naming);
    outcomes.push(await rollOne(ctx, target, experiment, options, prompt.aliases));
  }
  return outcomes;
}

/** A reason as long as a move's may be (the alias history keeps it). */
const bounded = (reason: string) => reason.slice(0, MAX_REASON_LENGTH);

async function rollOne(
  ctx: MoveContext,
  target: ReturnType<typeof managedPrompt>,
  experiment: ExperimentDefinition,
  options: RolloutRunOptions,
  aliases: Readonly<Record<string, number>>,
): Promise<RolloutOutcome> {
  const base = { prompt: target.prompt, experiment: experiment.id, revision: experiment.revision };
  let guards: readonly GuardOutcome[] = [];
  let promoted: string | undefined;
  try {
    const rollout = experiment.rollout as NonNullable<ExperimentDefinition['rollout']>;
    const judged = experiment.variants[0] as ExperimentDefinition['variants'][number];
    // At its last window with control already serving the version judged: an earlier run (or a
    // person) promoted it and the completion was not written. Completed now, whatever a window
    // mixed with that traffic would say.
    if (
      atLastStep(rollout) &&
      judged.version !== undefined &&
      own(aliases, experiment.control) === judged.version
    ) {
      const said = `${experiment.control} already serves version ${judged.version}, the version judged: completed without a move`;
      const change = await changeExperiment(ctx, target, experiment.revision, (current, at) =>
        current === null
          ? undefined
          : { next: endedExperiment(current, 'completed', at), action: 'complete', reason: said },
      );
      return { ...base, action: 'complete', reason: said, guards, newRevision: change.experiment.revision };
    }
    const { report, read } = await reportOf(
      ctx.registry,
      {
        experimentId: options.experimentId,
        key: target.prompt,
        definition: experiment,
        latency: options.latency,
        maxTraces: options.maxTraces,
      },
      options.report,
    );
    const decision = decideRollout(experiment, report);
    guards = decision.guards;
    const note = read.truncated ? ' (judged on the first traces of each arm: the window holds more)' : '';
    if (decision.action === 'hold')
      return { ...base, action: 'hold', reason: decision.reason + note, guards };
    let action: RolloutOutcome['action'] = decision.action;
    let reason = decision.reason + note;
    // Decided and done under the experiment's lock, on the revision judged (the expected
    // revision): a person's stop or change since the report, or another run, wins.
    const change = await changeExperiment(ctx, target, experiment.revision, async (current, at, prompt) => {
      if (current === null) return undefined;
      if (decision.action === 'advance') {
        return { next: appliedDecision(current, decision), action: 'advance', reason };
      }
      if (decision.action === 'halt') {
        return { next: haltedExperiment(current, at), action: 'halt', reason: bounded(reason) };
      }
      // Complete: promote exactly the version judged, against the control judged; anything moved
      // meanwhile (the variant repointed, a hotfix on control) stops the rollout instead.
      const variant = current.variants[0] as ExperimentDefinition['variants'][number];
      const now = (alias: string) => own(prompt.aliases, alias);
      const moved =
        variant.version === undefined
          ? `no version of '${variant.alias}' was recorded when the split was set`
          : now(variant.alias) !== variant.version
            ? `the variant alias '${variant.alias}' serves ${now(variant.alias) === undefined ? 'nothing' : `version ${now(variant.alias)}`}, not the version ${variant.version} this rollout judged`
            : current.control_version !== undefined && now(current.control) !== current.control_version
              ? `'${current.control}' moved from version ${current.control_version} to ${now(current.control) ?? 'nowhere'} during the rollout`
              : undefined;
      if (moved !== undefined) {
        action = 'halt';
        reason = `${moved}: halted, nothing promoted`;
        return { next: haltedExperiment(current, at), action: 'halt', reason: bounded(reason) };
      }
      const version = variant.version as number;
      // The move and its record, then the completion's, must all fit: checked before the move.
      if (remainingMs() < 2 * MIN_MS_TO_MOVE) {
        throw new UnavailableError(
          'Too little time is left to promote and record the completion; nothing was changed.',
        );
      }
      if (now(current.control) !== version) {
        await promote(ctx, target.prompt, {
          from: version,
          to: current.control,
          expectedVersion: now(current.control) ?? null,
          reason: bounded(`rollout '${current.id}' complete: ${decision.reason}`),
        });
        promoted = `${current.control} → version ${version}`;
      }
      return {
        next: endedExperiment(current, 'completed', at),
        action: 'complete',
        reason: bounded(reason),
      };
    });
    return { ...base, action, reason, guards, newRevision: change.experiment.revision };
  } catch (error) {
    // A promotion made but not recorded as the experiment's completion: said, never lost (the
    // next run finds the alias there and completes without moving it).
    const moved = promoted
      ? `${promoted} was promoted, but the experiment could not be marked completed: `
      : '';
    // Another run holds the lock or decided this window first: theirs stands.
    if (error instanceof ConflictError && !promoted) {
      return { ...base, action: 'conflict', reason: error.message, guards };
    }
    const code = isPromptOpsError(error) ? error.code : 'INTERNAL';
    const message = `${moved}${(error as Error)?.message ?? String(error)}`;
    return { ...base, action: 'failed', reason: message, guards, error: { code, message } };
  }
}
