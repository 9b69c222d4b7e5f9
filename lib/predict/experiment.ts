/**
 * The MLflow experiment traces go to, and the prompt tag that lists a prompt on an experiment's
 * page. MLflow's experiment page shows only the prompts whose `_mlflow_experiment_ids` tag names
 * that experiment (`,0,12,`); its Python SDK adds the experiment there when a prompt is registered
 * and when one is loaded (both from a background thread: `mlflow/tracking/client.py`, and
 * `mlflow/tracking/_model_registry/fluent.py` on load). We do the same, in the foreground.
 */
import { AlreadyExistsError } from '../errors';
import type { RegistryClient } from '../registry';
import type { ExperimentRef } from './settings';

export const EXPERIMENT_IDS_TAG = '_mlflow_experiment_ids';

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
