import type { AliasMove, RegisterOutcome } from '../register/register-prompt-file';

/** A prompt that was not registered: a file that did not load, or a registration that failed. */
export interface FailedRow {
  readonly source: string;
  /** The registry name, or the file when the file did not get as far as having one. */
  readonly name: string;
  readonly status: 'failed';
  readonly code: string;
  readonly reason: string;
}

export type SummaryRow = RegisterOutcome | FailedRow;

/** Left-aligned columns two spaces apart, a dashed rule under the header. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatAliasMoves(moves: readonly AliasMove[]): string {
  return (
    moves
      .map((m) => `${m.alias}${m.previousVersion ? ` v${m.previousVersion}` : ''} -> v${m.version}`)
      .join(', ') || '-'
  );
}

/** A plain-text table of what a registration run did, and the counts. */
export function formatSummary(rows: readonly SummaryRow[]): string {
  const table = formatTable(
    ['prompt', 'result', 'version', 'aliases moved'],
    rows.map((o) =>
      o.status === 'failed'
        ? [o.name, o.status, '-', '-']
        : [o.name, o.status, `v${o.version}`, formatAliasMoves(o.aliasesMoved)],
    ),
  );
  const counts = (['created', 'unchanged', 'failed'] as const).map(
    (s) => `${rows.filter((o) => o.status === s).length} ${s}`,
  );
  return `${table}\n\n${counts.join(', ')}`;
}
