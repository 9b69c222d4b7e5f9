/**
 * Which version of each prompt one request is served, when prompts have experiments: the
 * assignment (assignment.ts) picks control or a variant alias per prompt; a variant the loader
 * could not load is served as control for this request, and said so. What was assigned and what
 * was served go on the trace as tags, so `mlflow.search_traces` finds one arm by a tag filter.
 */
import type { LoadedPrompt, PromptLoad } from '../prompt-loader/loader';
import { variantKey } from '../prompt-loader/loader';
import { type AssignmentInput, assign } from './assignment';
import { isLive } from './definition';

export interface ServedArm {
  readonly key: string;
  readonly experiment: string;
  readonly revision: number;
  /** The alias the assignment chose. */
  readonly assigned: string;
  /** The alias served: the assigned one, or control when the variant could not be loaded. */
  readonly served: string;
  readonly fallback: boolean;
  readonly bucket: number;
  readonly by: 'key' | 'request';
}

/**
 * Trace tag names, per prompt key: the experiment (`id#revision`), the arm assigned (what a
 * report groups by: a variant's failures to load stay in its arm), the alias served when it
 * differs (control, because the variant could not be loaded), and the assignment's bucket.
 */
export const ARM_TAGS = {
  experiment: (key: string) => `promptops.experiment.${key}`,
  arm: (key: string) => `promptops.arm.${key}`,
  fallback: (key: string) => `promptops.served_instead.${key}`,
  /**
   * The assignment's bucket (0-9999) when assigned by user or session: what keeps one user's
   * requests together in a report (they are not independent), without the user's id.
   */
  bucket: (key: string) => `promptops.bucket.${key}`,
} as const;

export function serveExperiments(
  load: Pick<PromptLoad, 'prompts' | 'experiments' | 'variants'>,
  input: AssignmentInput,
): { prompts: Map<string, LoadedPrompt>; arms: ServedArm[] } {
  const prompts = new Map(load.prompts);
  const arms: ServedArm[] = [];
  for (const [key, experiment] of load.experiments) {
    if (!isLive(experiment, input.now ?? Date.now())) continue;
    const control = prompts.get(key);
    // A prompt served from the snapshot or a failed cache is not in the experiment this time.
    if (!control || control.source === 'fallback' || control.source === 'stale') continue;
    const assignment = assign(experiment, input);
    let served = assignment.alias;
    let fallback = false;
    if (assignment.arm === 'variant') {
      const variant = load.variants.get(variantKey(key, assignment.alias));
      if (variant) prompts.set(key, { ...variant, key });
      else {
        served = experiment.control;
        fallback = true;
      }
    }
    arms.push({
      key,
      experiment: experiment.id,
      revision: experiment.revision,
      assigned: assignment.alias,
      served,
      fallback,
      bucket: assignment.bucket,
      by: assignment.by,
    });
  }
  return { prompts, arms };
}
