/**
 * A list kept as JSON in one registry tag (an alias's moves, a prompt's experiment changes):
 * read leniently (the entries that parse, and whether any did not, so a hand-edited tag does not
 * block the next write) and appended within bounds (entries and characters: MLflow's tag values
 * are limited), the oldest entries dropped first.
 */
import type * as z from 'zod';

export function parseTagList<S extends z.ZodType>(
  value: string | undefined,
  entry: S,
): { entries: z.output<S>[]; damaged: boolean } {
  if (value === undefined || value === '') return { entries: [], damaged: false };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { entries: [], damaged: true };
  }
  if (!Array.isArray(json)) return { entries: [], damaged: true };
  const entries = json.flatMap((item) => {
    const parsed = entry.safeParse(item);
    return parsed.success ? [parsed.data as z.output<S>] : [];
  });
  return { entries, damaged: entries.length !== json.length };
}

export function appendBounded<T>(
  entries: readonly T[],
  entry: T,
  bounds: { readonly maxEntries: number; readonly maxChars: number },
): T[] {
  const next = [...entries, entry].slice(-bounds.maxEntries);
  while (next.length > 1 && JSON.stringify(next).length > bounds.maxChars) next.shift();
  return next;
}
