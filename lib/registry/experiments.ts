/**
 * The MLflow experiment traces go to, and the prompt tag that lists a prompt on an experiment's
 * page. MLflow's experiment page shows only the prompts whose `_mlflow_experiment_ids` tag names
 * that experiment (`,0,12,`); its Python SDK adds the experiment there when a prompt is registered
 * and when one is loaded (both from a background thread: `mlflow/tracking/client.py`, and
 * `mlflow/tracking/_model_registry/fluent.py` on load). We do the same, in the foreground.
 */
import * as z from 'zod';
import { optionalText } from '../config/env';
import { AlreadyExistsError } from '../errors';
import type { RegistryClient } from './client';

export const EXPERIMENT_IDS_TAG = '_mlflow_experiment_ids';

/** An experiment as configured: by id, or by name (created when missing). */
export type ExperimentRef = { readonly id: string } | { readonly name: string };

/** MLflow's own variables for the experiment; unset, MLflow's default experiment `0`. */
export const experimentEnvShape = {
  MLFLOW_EXPERIMENT_ID: optionalText.pipe(
    z
      .string()
      .regex(/^[0-9]+$/, 'expected an experiment id (digits)')
      .optional(),
  ),
  MLFLOW_EXPERIMENT_NAME: optionalText,
};

/** MLflow reads either; both set is ambiguous. */
export function oneExperiment(
  env: { MLFLOW_EXPERIMENT_ID?: string | undefined; MLFLOW_EXPERIMENT_NAME?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (env.MLFLOW_EXPERIMENT_ID !== undefined && env.MLFLOW_EXPERIMENT_NAME !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['MLFLOW_EXPERIMENT_NAME'],
      message: 'set MLFLOW_EXPERIMENT_ID or MLFLOW_EXPERIMENT_NAME, not both',
    });
  }
}

export function experimentRef(env: {
  MLFLOW_EXPERIMENT_ID?: string | undefined;
  MLFLOW_EXPERIMENT_NAME?: string | undefined;
}): ExperimentRef {
  return env.MLFLOW_EXPERIMENT_NAME !== undefined
    ? { name: env.MLFLOW_EXPERIMENT_NAME }
    : { id: env.MLFLOW_EXPERIMENT_ID ?? '0' };
}

/**
 * The id of `ref`, resolved once and kept (a failure is not kept: the next call asks again).
 * For functions and commands that need it more than once.
 */
export function memoExperimentId(resolve: () => Promise<string>): () => Promise<string> {
  let pending: Promise<string> | undefined;
  return () => {
    if (!pending) {
      const attempt = resolve();
      pending = attempt;
      attempt.catch(() => {
        if (pending === attempt) pending = undefined;
      });
    }
    return pending;
  };
}

/** Whether the tag's value (`,0,12,`) names the experiment. */
export function hasExperiment(value: string | undefined, id: string): boolean {
  return (value ?? '').split(',').includes(id);
}

/** The tag's value with the experiment added, in MLflow's form: ids between commas, `,0,12,`. */
export function addExperiment(value: string | undefined, id: string): string {
  const ids = (value ?? '').split(',').filter((part) => part !== '');
  if (!ids.includes(id)) ids.push(id);
  return `,${ids.join(',')},`;
}

/** The experiment's id: as given, or by name, created when missing (as `mlflow.set_experiment`). */
export async function resolveExperimentId(
  registry: Pick<RegistryClient, 'getExperimentIdByName' | 'createExperiment'>,
  ref: ExperimentRef,
): Promise<string> {
  if ('id' in ref) return ref.id;
  const found = await registry.getExperimentIdByName(ref.name);
  if (found !== undefined) return found;
  try {
    return await registry.createExperiment(ref.name);
  } catch (error) {
    // Created meanwhile by someone else: theirs is ours.
    if (!(error instanceof AlreadyExistsError)) throw error;
    const again = await registry.getExperimentIdByName(ref.name);
    if (again === undefined) throw error;
    return again;
  }
}
