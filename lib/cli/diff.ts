/**
 * A small line diff for `promptops register --dry-run`: prompts are short texts, so a longest
 * common subsequence over lines is plenty, and the output reads like `diff -u`.
 */

export interface DiffLine {
  readonly kind: ' ' | '-' | '+';
  readonly text: string;
}

export interface UnifiedDiffOptions {
  /** The labels of the `---` and `+++` lines. */
  readonly from: string;
  readonly to: string;
  /** Unchanged lines shown around each change (default 3). */
  readonly context?: number;
}

/**
 * Above this many LCS cells (before × after lines, after trimming the common ends) the table
 * would cost more memory than a readable diff is worth; the middle is then shown as replaced.
 */
const MAX_LCS_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

/** The edit script turning `before` into `after`, line by line, unchanged lines included. */
export function diffLines(before: readonly string[], after: readonly string[]): DiffLine[] {
  let head = 0;
  while (head < before.length && head < after.length && before[head] === after[head]) head += 1;
  let tail = 0;
  while (
    tail < before.length - head &&
    tail < after.length - head &&
    before[before.length - 1 - tail] === after[after.length - 1 - tail]
  ) {
    tail += 1;
  }
  const a = before.slice(head, before.length - tail);
  const b = after.slice(head, after.length - tail);
  const same = (lines: readonly string[]): DiffLine[] => lines.map((text) => ({ kind: ' ', text }));

  const middle: DiffLine[] = [];
  if ((a.length + 1) * (b.length + 1) > MAX_LCS_CELLS) {
    middle.push(...a.map((text): DiffLine => ({ kind: '-', text })));
    middle.push(...b.map((text): DiffLine => ({ kind: '+', text })));
  } else {
    // lcs[i * width + j]: length of the longest common subsequence of a[i..] and b[j..].
    const width = b.length + 1;
    const lcs = new Uint32Array((a.length + 1) * width);
    for (let i = a.length - 1; i >= 0; i -= 1) {
      for (let j = b.length - 1; j >= 0; j -= 1) {
        lcs[i * width + j] =
          a[i] === b[j]
            ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1
            : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const x = a[i];
      const y = b[j];
      if (x !== undefined && y !== undefined && x === y) {
        middle.push({ kind: ' ', text: x });
        i += 1;
        j += 1;
      } else if (
        y === undefined ||
        (x !== undefined && (lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0))
      ) {
        // Deletions before insertions at a tie, as `diff -u` prints a replaced block.
        middle.push({ kind: '-', text: x ?? '' });
        i += 1;
      } else {
        middle.push({ kind: '+', text: y });
        j += 1;
      }
    }
  }
  return [...same(before.slice(0, head)), ...middle, ...same(before.slice(before.length - tail))];
}

function range(start: number, count: number): string {
  // As in `diff -u`: an empty range names the line before it.
  if (count === 0) return `${start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}

/** A unified diff of two texts; `''` when they are equal. */
export function unifiedDiff(before: string, after: string, options: UnifiedDiffOptions): string {
  const context = options.context ?? 3;
  const lines = diffLines(splitLines(before), splitLines(after));
  const changed = lines.flatMap((line, index) => (line.kind === ' ' ? [] : [index]));
  const first = changed[0];
  if (first === undefined) return '';

  // Group changes whose context would touch or overlap into one hunk: [start, end) in `lines`.
  const hunks: Array<[number, number]> = [];
  let start = Math.max(0, first - context);
  let end = Math.min(lines.length, first + 1 + context);
  for (const index of changed.slice(1)) {
    if (index - context <= end) {
      end = Math.min(lines.length, index + 1 + context);
    } else {
      hunks.push([start, end]);
      start = Math.max(0, index - context);
      end = Math.min(lines.length, index + 1 + context);
    }
  }
  hunks.push([start, end]);

  const out = [`--- ${options.from}`, `+++ ${options.to}`];
  // Line numbers in `before` and `after` at the start of `lines[k]`.
  let oldLine = 1;
  let newLine = 1;
  let k = 0;
  for (const [from, to] of hunks) {
    for (; k < from; k += 1) {
      const kind = lines[k]?.kind;
      if (kind !== '+') oldLine += 1;
      if (kind !== '-') newLine += 1;
    }
    const hunk = lines.slice(from, to);
    const oldCount = hunk.filter((l) => l.kind !== '+').length;
    const newCount = hunk.filter((l) => l.kind !== '-').length;
    out.push(`@@ -${range(oldLine, oldCount)} +${range(newLine, newCount)} @@`);
    for (const line of hunk) out.push(`${line.kind}${line.text}`);
    oldLine += oldCount;
    newLine += newCount;
    k = to;
  }
  return `${out.join('\n')}\n`;
}
