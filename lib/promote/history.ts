/**
 * The history of an alias's moves, kept in the registry itself (MLflow keeps none): a JSON list
 * in the prompt tag `promptops.alias_history.<alias>`, newest last, bounded in entries and in
 * characters so it always fits MLflow's tag limit.
 */
import * as z from 'zod';
import { MAX_PROMPT_TAG_VALUE_LENGTH } from '../prompts/metadata';
import { TAG_KEYS } from '../registry/tag-keys';
import { appendBounded, parseTagList } from '../util/tag-list';

export const HISTORY_TAG_PREFIX = TAG_KEYS.oss.aliasHistoryPrefix;
export const MAX_HISTORY_ENTRIES = 50;
/** A prompt tag's limit (MLflow's registered-model tag column): the newest entries that fit. */
export const MAX_HISTORY_CHARS = MAX_PROMPT_TAG_VALUE_LENGTH;

const entrySchema = z.object({
  // `register`: an upload moved `staging` (or gave a new prompt its first `production`).
  action: z.enum(['promote', 'rollback', 'register']),
  version: z.number().int().positive(),
  previousVersion: z.number().int().positive().nullable(),
  by: z.string(),
  at: z.string(),
  reason: z.string().optional(),
});
export type AliasMoveRecord = z.infer<typeof entrySchema>;

export function historyTag(alias: string): string {
  return `${HISTORY_TAG_PREFIX}${alias}`;
}

/**
 * Reads a history tag. A value that is not a valid history (edited by hand, cut short) yields the
 * entries that do parse, and says it was damaged, rather than blocking every later move.
 */
export function parseHistory(value: string | undefined): { entries: AliasMoveRecord[]; damaged: boolean } {
  return parseTagList(value, entrySchema);
}

/** The history with `entry` appended, oldest entries dropped to stay within both bounds. */
export function appendHistory(
  entries: readonly AliasMoveRecord[],
  entry: AliasMoveRecord,
): AliasMoveRecord[] {
  return appendBounded(entries, entry, { maxEntries: MAX_HISTORY_ENTRIES, maxChars: MAX_HISTORY_CHARS });
}

/**
 * Where a rollback of the alias goes: back before the newest promotion that is still in effect,
 * if the alias is where that promotion put it. Rollbacks undo promotions, newest first, so a
 * second rollback goes further back, never forward onto the version the first one left.
 * A move from nowhere after earlier moves restores an alias deleted outside the API; it is rolled
 * back to where the alias was before the deletion.
 * (`toVersion` states the target outright, for a rollback that must be repeatable.)
 */
export function rollbackTarget(
  history: readonly AliasMoveRecord[],
  current: number | null,
): number | undefined {
  // A restore that put back the version the alias had before its deletion moved nothing: the
  // promotion before it is the one in effect, and a rollback undoes that one.
  const entries = history.filter(
    (entry, i) =>
      !(
        entry.action !== 'rollback' &&
        entry.previousVersion === null &&
        i > 0 &&
        history[i - 1]?.version === entry.version
      ),
  );
  let undone = 0;
  for (let i = entries.length - 1; i >= 0; i -= 1) {
    const entry = entries[i];
    if (entry === undefined) continue;
    if (entry.action === 'rollback') {
      undone += 1;
      continue;
    }
    if (undone > 0) {
      undone -= 1;
      continue;
    }
    if (entry.version !== current) return undefined;
    if (entry.previousVersion !== null) return entry.previousVersion;
    // The alias pointed nowhere before this move: it was deleted outside the API, and this move
    // restored it onto another version. Back to where the history had left it before.
    return entries[i - 1]?.version;
  }
  return undefined;
}
