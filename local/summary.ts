import type { RegisterOutcome } from '../lib/register/register-prompt-file';

/** A plain-text table of what a registration run did. */
export function formatSummary(outcomes: readonly RegisterOutcome[]): string {
  const rows = outcomes.map((o) => [
    o.name,
    o.status,
    `v${o.version}`,
    o.aliasesMoved
      .map((m) => `${m.alias}${m.previousVersion ? ` v${m.previousVersion}` : ''} -> v${m.version}`)
      .join(', ') || '-',
  ]);
  const header = ['prompt', 'result', 'version', 'aliases moved'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const counts = ['created', 'unchanged'].map((s) => `${outcomes.filter((o) => o.status === s).length} ${s}`);
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    counts.join(', '),
  ].join('\n');
}
