/**
 * Timing fresh processes: from just before `spawn` until the child prints a marker line (the
 * thing being measured is done) or, for a child that prints nothing, until it exits. Each run
 * waits for the child to be gone before it resolves, so runs never overlap.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface TimedCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Stop the clock when a stdout line equals this; without it, when the child exits. */
  readonly marker?: string;
}

/** Milliseconds from spawn to the marker (or the exit). Rejects if the child fails or never prints it. */
export function timeProcess(spec: TimedCommand): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let markedAt: number | undefined;
    let stdout = '';
    let stderr = '';
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (markedAt === undefined && spec.marker !== undefined && stdout.split('\n').includes(spec.marker))
        markedAt = performance.now();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('exit', () => {
      // The exit time of a child without a marker: taken at 'exit', before its pipes are drained.
      if (spec.marker === undefined) markedAt = performance.now();
    });
    child.once('close', (code, signal) => {
      const what = `${spec.command} ${spec.args.join(' ')}`.slice(0, 200);
      if (code !== 0) {
        reject(new Error(`${what} exited with ${code ?? signal}:\n${stderr.trim() || stdout.trim()}`));
      } else if (markedAt === undefined) {
        reject(
          new Error(
            `${what} did not print ${JSON.stringify(spec.marker)}:\n${stdout.trim()}\n${stderr.trim()}`,
          ),
        );
      } else {
        resolve(markedAt - started);
      }
    });
  });
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const lower = sorted[mid - 1] ?? Number.NaN;
  const upper = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : (lower + upper) / 2;
}

export const ms = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1));

export function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, c) => (rightAligned.has(c) ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
