import { describe, expect, it } from 'vitest';
import { diffLines, unifiedDiff } from '../../lib/cli/diff';

const labels = { from: 'a v1', to: 'a.md' };
const lines = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `line ${i + from}`);

describe('diffLines', () => {
  it('keeps common lines and marks the rest, deletions before insertions', () => {
    expect(diffLines(['a', 'b', 'c'], ['a', 'x', 'c', 'd'])).toEqual([
      { kind: ' ', text: 'a' },
      { kind: '-', text: 'b' },
      { kind: '+', text: 'x' },
      { kind: ' ', text: 'c' },
      { kind: '+', text: 'd' },
    ]);
  });

  it('finds the longest common subsequence, not just common ends', () => {
    const script = diffLines(['x', 'a', 'b', 'c', 'y'], ['a', 'q', 'b', 'c', 'z']);
    expect(script.filter((l) => l.kind === ' ').map((l) => l.text)).toEqual(['a', 'b', 'c']);
    expect(script.filter((l) => l.kind === '-').map((l) => l.text)).toEqual(['x', 'y']);
    expect(script.filter((l) => l.kind === '+').map((l) => l.text)).toEqual(['q', 'z']);
  });

  it('handles empty sides', () => {
    expect(diffLines([], ['a'])).toEqual([{ kind: '+', text: 'a' }]);
    expect(diffLines(['a'], [])).toEqual([{ kind: '-', text: 'a' }]);
    expect(diffLines([], [])).toEqual([]);
  });
});

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('same\ntext', 'same\ntext', labels)).toBe('');
  });

  it('prints one hunk with three lines of context and diff -u ranges', () => {
    const before = lines(10).join('\n');
    const after = lines(10)
      .map((l) => (l === 'line 5' ? 'line five' : l))
      .join('\n');
    expect(unifiedDiff(before, after, labels)).toBe(
      [
        '--- a v1',
        '+++ a.md',
        '@@ -2,7 +2,7 @@',
        ' line 2',
        ' line 3',
        ' line 4',
        '-line 5',
        '+line five',
        ' line 6',
        ' line 7',
        ' line 8',
        '',
      ].join('\n'),
    );
  });

  it('splits distant changes into hunks and merges close ones', () => {
    const before = lines(30);
    const after = [...before];
    after[1] = 'changed 2';
    after[5] = 'changed 6';
    after[25] = 'changed 26';
    const diff = unifiedDiff(before.join('\n'), after.join('\n'), labels);
    expect(diff.split('\n').filter((l) => l.startsWith('@@'))).toEqual([
      '@@ -1,9 +1,9 @@',
      '@@ -23,7 +23,7 @@',
    ]);
  });

  it('numbers insertions into and deletions from an empty range as diff -u does', () => {
    expect(unifiedDiff('', 'new', labels)).toBe('--- a v1\n+++ a.md\n@@ -0,0 +1 @@\n+new\n');
    expect(unifiedDiff('a\nb', 'a', { ...labels, context: 0 })).toBe(
      '--- a v1\n+++ a.md\n@@ -2 +1,0 @@\n-b\n',
    );
  });

  it('honours the context option and line numbers after earlier hunks', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f'].join('\n');
    const after = ['a', 'B', 'c', 'd', 'e', 'f', 'g'].join('\n');
    expect(unifiedDiff(before, after, { ...labels, context: 0 })).toBe(
      ['--- a v1', '+++ a.md', '@@ -2 +2 @@', '-b', '+B', '@@ -6,0 +7 @@', '+g', ''].join('\n'),
    );
  });

  it('still answers for texts too large for the LCS table', () => {
    const before = lines(3000).join('\n');
    const after = lines(3000, 2).join('\n');
    const diff = unifiedDiff(before, after, labels);
    expect(diff).toContain('-line 1\n');
    expect(diff).toContain('+line 3001\n');
  });
});
