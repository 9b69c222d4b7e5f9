/**
 * The rollout function: on a schedule (EventBridge), runs the guarded rollouts
 * (lib/experiments/run-rollouts) as its own principal, writes one audit line per experiment it
 * judged and the run's metrics. A halted rollout and a rollout that could not act are alarms
 * (RolloutHalted, RolloutFailed), not failed invocations to retry: the next run judges afresh.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import type { RolloutEnv } from '../../lib/config/rollout-env';
import { InternalError } from '../../lib/errors';
import { type RolloutOutcome, runRollouts } from '../../lib/experiments/run-rollouts';
import { type MetricName, ROLLOUT_METRICS } from '../../lib/observability/metric-names';
import { createMoveRules } from '../../lib/promote/move-context';
import { experimentRef, memoExperimentId, resolveExperimentId } from '../../lib/registry/experiments';
import { instrumented } from '../../lib/runtime/handler';
import type { Runtime } from '../../lib/runtime/invocation';

export interface RolloutDeps {
  readonly runtime: Runtime;
  readonly env: RolloutEnv;
  readonly dynamodb: Pick<DynamoDBClient, 'send'>;
  readonly now?: () => Date;
}

const METRIC_OF: Readonly<Record<RolloutOutcome['action'], MetricName | undefined>> = {
  hold: ROLLOUT_METRICS.held,
  advance: ROLLOUT_METRICS.advanced,
  halt: ROLLOUT_METRICS.halted,
  complete: ROLLOUT_METRICS.completed,
  failed: ROLLOUT_METRICS.failed,
  conflict: undefined,
};

/**
 * Who the function is to the protected-alias rules: its role's STS session, which Lambda names
 * after the function (`arn:aws:sts::<account>:assumed-role/<role>/<function>`), as any caller of
 * the promote API is named by API Gateway.
 */
export function rolloutPrincipal(
  env: Pick<RolloutEnv, 'ROLLOUT_ROLE_NAME'>,
  context: Pick<Context, 'invokedFunctionArn' | 'functionName'>,
): string {
  const arn = context.invokedFunctionArn.split(':');
  const partition = arn[1];
  const account = arn[4];
  if (arn[0] !== 'arn' || !partition || !account || !/^[0-9]{12}$/.test(account)) {
    throw new InternalError('The function ARN Lambda gave names no account.');
  }
  return `arn:${partition}:sts::${account}:assumed-role/${env.ROLLOUT_ROLE_NAME}/${context.functionName}`;
}

export function createRolloutHandler({ runtime, env, dynamodb, now = () => new Date() }: RolloutDeps) {
  const rules = createMoveRules(runtime, env, dynamodb, now);
  const experimentId = memoExperimentId(() =>
    runtime.registry.withRegistry((r) => resolveExperimentId(r, experimentRef(env))),
  );

  return instrumented(runtime.instruments, async (_event: unknown, context, metrics) => {
    metrics.add(ROLLOUT_METRICS.runs, 1);
    let outcomes: (RolloutOutcome & { readonly by: string })[];
    try {
      const principal = rolloutPrincipal(env, context as Context);
      const traces = await experimentId();
      outcomes = (
        await runtime.registry.withRegistry(
          (registry) =>
            runRollouts(rules.contextFor(registry, { principal, log: runtime.logger }), {
              experimentId: traces,
              latency: env.ROLLOUT_LATENCY,
              report: {
                minSamples: env.ROLLOUT_MIN_SAMPLES,
                alpha: env.ROLLOUT_ALPHA,
                seed: 1,
                rounds: 2_000,
              },
            }),
          { rerunAfterWrite: false },
        )
      ).map((outcome) => ({ ...outcome, by: principal }));
    } catch (error) {
      // The run could not start judging (the registry, the traces' experiment): an alarm, and the
      // invocation fails for Lambda's own error metric too. Prompts' own failures are outcomes.
      metrics.add(ROLLOUT_METRICS.failed, 1);
      runtime.logger.error('rollout run failed', { error });
      throw error;
    }
    for (const outcome of outcomes) {
      const metric = METRIC_OF[outcome.action];
      if (metric) metrics.add(metric, 1);
      const line =
        outcome.action === 'halt' || outcome.action === 'failed' ? runtime.logger.error : runtime.logger.info;
      // The audit line: every decision with the figures it rests on, by the principal that made it.
      line(`rollout ${outcome.action}`, { audit: true, ...outcome });
    }
    return { outcomes };
  });
}
