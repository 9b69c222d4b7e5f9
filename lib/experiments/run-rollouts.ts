/**
 * One run of the guarded rollouts (the rollout function calls it on its schedule): every agent
 * prompt whose live experiment has a rollout is judged on its current window and advanced, held,
 * halted or completed. Completion promotes the variant's version to the control alias through the
 * promote service, as the rollout's own principal: the protected-alias rules apply to it as to
 * anyone, and the move is audited like any other. One prompt's failure does not stop the others.
 */
import { agentPrompts } from '../agent/contract';
import { ConflictError, isPromptOpsError } from '../errors';
import { type MoveContext, managedPrompt, promote } from '../promote/service';
import { registryName } from '../prompts/naming';
import { type ExperimentDefinition, experimentOf, isLive } from './definition';
import { changeExperiment, endedExperiment } from './manage';
import { reportOf } from './read';
import type { LatencySource, ReportOptions } from './report';
import { appliedDecision, decideRollout, type GuardOutcome } from './rollout';

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
    outcomes.push(await rollOne(ctx, target, experiment, options));
  }
  return outcomes;
}

async function rollOne(
  ctx: MoveContext,
  target: ReturnType<typeof managedPrompt>,
  experiment: ExperimentDefinition,
  options: RolloutRunOptions,
): Promise<RolloutOutcome> {
  const base = { prompt: target.prompt, experiment: experiment.id, revision: experiment.revision };
  let guards: readonly GuardOutcome[] = [];
  try {
    const { report } = await reportOf(
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
    if (decision.action === 'hold') return { ...base, action: 'hold', reason: decision.reason, guards };
    const variant = (experiment.variants[0] as { alias: string }).alias;
    if (decision.action === 'complete') {
      // The promotion first: if it is refused, the experiment stays as it is and says why.
      await promote(ctx, target.prompt, {
        from: variant,
        to: experiment.control,
        reason: `rollout '${experiment.id}' complete: ${decision.reason}`.slice(0, 1_000),
      });
    }
    const change = await changeExperiment(ctx, target, experiment.revision, (current, at) => {
      if (current === null) return undefined;
      if (decision.action === 'advance') {
        return { next: appliedDecision(current, decision), action: 'advance', reason: decision.reason };
      }
      const ended = endedExperiment(current, decision.action === 'halt' ? 'halted' : 'completed', at);
      const next =
        decision.action === 'halt'
          ? { ...ended, variants: current.variants.map((v) => ({ ...v, weight_bp: 0 })) }
          : ended;
      return { next, action: decision.action, reason: decision.reason.slice(0, 1_000) };
    });
    return {
      ...base,
      action: decision.action,
      reason: decision.reason,
      guards,
      newRevision: change.experiment.revision,
    };
  } catch (error) {
    // Another run holds the lock or decided this window first: theirs stands.
    if (error instanceof ConflictError) {
      return { ...base, action: 'conflict', reason: error.message, guards };
    }
    if (!isPromptOpsError(error)) throw error;
    return {
      ...base,
      action: 'failed',
      reason: error.message,
      guards,
      error: { code: error.code, message: error.message },
    };
  }
}
