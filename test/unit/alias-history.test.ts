import { describe, expect, it } from 'vitest';
import {
  type AliasMoveRecord,
  appendHistory,
  MAX_HISTORY_CHARS,
  MAX_HISTORY_ENTRIES,
  parseHistory,
  rollbackTarget,
} from '../../lib/promote/history';

const move = (version: number, previousVersion: number | null, reason?: string): AliasMoveRecord => ({
  action: 'promote',
  version,
  previousVersion,
  by: 'arn:aws:iam::123456789012:role/ci',
  at: '2026-11-24T10:00:00.000Z',
  ...(reason ? { reason } : {}),
});

const back = (version: number, previousVersion: number): AliasMoveRecord => ({
  ...move(version, previousVersion),
  action: 'rollback',
});

describe('alias history', () => {
  it('round-trips through its tag value', () => {
    const history = appendHistory(appendHistory([], move(1, null)), move(2, 1, 'better tone'));
    expect(parseHistory(JSON.stringify(history))).toEqual({ entries: history, damaged: false });
  });

  it('keeps at most the newest entries, and within the character bound', () => {
    let history: AliasMoveRecord[] = [];
    for (let v = 1; v <= MAX_HISTORY_ENTRIES + 10; v += 1) history = appendHistory(history, move(v + 1, v));
    // Within the prompt tag's 5,000 characters, the count bound is not what binds with ARNs.
    expect(history.length).toBeLessThanOrEqual(MAX_HISTORY_ENTRIES);
    expect(history.length).toBeGreaterThan(30);
    expect(JSON.stringify(history).length).toBeLessThanOrEqual(MAX_HISTORY_CHARS);
    expect(history.at(-1)?.version).toBe(MAX_HISTORY_ENTRIES + 11);
    const short = appendHistory([], { ...move(1, null), by: 'a' });
    let few = short;
    for (let v = 1; v <= MAX_HISTORY_ENTRIES + 10; v += 1)
      few = appendHistory(few, { ...move(v + 1, v), by: 'a' });
    expect(few).toHaveLength(MAX_HISTORY_ENTRIES);
    const long = appendHistory(history, move(999, 998, 'x'.repeat(1_000)));
    expect(JSON.stringify(long).length).toBeLessThanOrEqual(MAX_HISTORY_CHARS);
    expect(long.at(-1)?.version).toBe(999);
  });

  it('reads what it can of a damaged value and says so', () => {
    expect(parseHistory('{not json')).toEqual({ entries: [], damaged: true });
    expect(parseHistory(JSON.stringify([move(2, 1), { version: 'x' }]))).toEqual({
      entries: [move(2, 1)],
      damaged: true,
    });
    expect(parseHistory(undefined)).toEqual({ entries: [], damaged: false });
  });

  it('finds where a rollback goes: the version before the latest move to the current one', () => {
    const history = [move(1, null), move(2, 1), move(3, 2), move(2, 3)];
    expect(rollbackTarget(history, 2)).toBe(3);
    expect(rollbackTarget(history, 1)).toBeUndefined();
    expect(rollbackTarget([move(1, null)], 1)).toBeUndefined();
    expect(rollbackTarget(history, 7)).toBeUndefined();
  });

  it('never rolls forward: a second rollback goes further back, past what the first undid', () => {
    // 1 → 2 → 3 → 4, then rolled back to 3: the next rollback goes to 2, not onto 4 again.
    const history = [move(2, 1), move(3, 2), move(4, 3), back(3, 4)];
    expect(rollbackTarget(history, 3)).toBe(2);
    // Rolled back twice (to 2): the next goes to 1; once more, nothing is left to undo.
    expect(rollbackTarget([...history, back(2, 3)], 2)).toBe(1);
    expect(rollbackTarget([...history, back(2, 3), back(1, 2)], 1)).toBeUndefined();
    // Only one promotion, already rolled back: nothing to go back to (not forward to 4).
    expect(rollbackTarget([move(4, 3), back(3, 4)], 3)).toBeUndefined();
    // The alias is not where the promotion in effect put it (moved outside the API): no guess.
    expect(rollbackTarget(history, 5)).toBeUndefined();
  });

  it('rolls a restored alias back to before the deletion, not to nowhere', () => {
    // Promoted 1 -> 2, deleted outside the API, restored on 2: the rollback undoes the 1 -> 2.
    expect(rollbackTarget([move(2, 1), move(2, null)], 2)).toBe(1);
    // Restored on another version: back to the one it had before the deletion.
    expect(rollbackTarget([move(2, 1), move(3, null)], 3)).toBe(2);
    // Then a second rollback finds nothing left to undo, rather than going forward.
    expect(rollbackTarget([move(2, 1), move(2, null), back(1, 2)], 1)).toBeUndefined();
    // Counted right after a restore: two promotions, a restore, two rollbacks.
    const restored = [move(2, 1), move(3, 2), move(3, null)];
    expect(rollbackTarget(restored, 3)).toBe(2);
    expect(rollbackTarget([...restored, back(2, 3)], 2)).toBe(1);
    expect(rollbackTarget([...restored, back(2, 3), back(1, 2)], 1)).toBeUndefined();
    // A first ever move from nowhere has nothing before it.
    expect(rollbackTarget([move(2, null)], 2)).toBeUndefined();
  });
});
