/**
 * What happened to a prompt's experiments, kept in the registry beside them (as the alias history
 * is): a JSON list in the prompt tag `promptops.experiment_history`, newest last, bounded so it
 * always fits MLflow's tag limit. Every start, change, stop, rollout step, halt and completion is
 * an entry, whoever made it (a person through the API, or the rollout function).
 */

import * as z from 'zod';
import { MAX_PROMPT_TAG_VALUE_LENGTH } from '../prompts/metadata';
import { TAG_KEYS } from '../registry/tag-keys';
import { appendBounded, parseTagList } from '../util/tag-list';

export const EXPERIMENT_HISTORY_TAG = TAG_KEYS.oss.experimentHistory;
const MAX_ENTRIES = 100;
/** A prompt tag's limit (MLflow's registered-model tag column). */
const MAX_CHARS = MAX_PROMPT_TAG_VALUE_LENGTH;

export const EXPERIMENT_ACTIONS = ['start', 'change', 'stop', 'advance', 'halt', 'complete'] as const;

export const historyEntrySchema = z.object({
  action: z.enum(EXPERIMENT_ACTIONS),
  id: z.string(),
  revision: z.number().int().positive(),
  /** Each variant's share afterwards, in basis points. */
  weights: z.record(z.string(), z.number().int()),
  by: z.string(),
  at: z.string(),
  reason: z.string().optional(),
});
export type ExperimentRecord = z.infer<typeof historyEntrySchema>;

/** The entries that parse (a damaged tag does not block the next change), oldest first. */
export function parseExperimentHistory(value: string | undefined): ExperimentRecord[] {
  return parseTagList(value, historyEntrySchema).entries;
}

/** The history with `entry` appended, the oldest dropped to stay within both bounds. */
export function appendExperimentHistory(
  entries: readonly ExperimentRecord[],
  entry: ExperimentRecord,
): ExperimentRecord[] {
  return appendBounded(entries, entry, { maxEntries: MAX_ENTRIES, maxChars: MAX_CHARS });
}
