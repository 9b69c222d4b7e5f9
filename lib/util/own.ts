/**
 * A table's entry for a key that came from input, by own property only: `constructor`,
 * `toString` or `__proto__` are not entries of ours, whatever Object.prototype holds.
 */
export function own<V>(table: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
