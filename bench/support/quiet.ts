/**
 * `mlflow server` answers /health long before it is done starting: its job runner and a handful of
 * huey consumers go on importing MLflow for several seconds, on the same CPUs as the benchmark.
 * This waits until the server's whole process group has gone quiet (Linux /proc), so that no
 * measured round pays for the server's own start-up. The same lookup finds a server to stop whose
 * handle was never returned.
 */
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat after the command name: [0] state, [2] pgrp, [11] utime, [12] stime. */
function statFields(pid: string): string[] | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function pids(): string[] {
  try {
    return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return [];
  }
}

/** The process group of the process whose command line mentions `marker` (e.g. the data dir). */
function findProcessGroup(marker: string): string | undefined {
  for (const pid of pids()) {
    const cmdline = readText(`/proc/${pid}/cmdline`);
    if (cmdline?.includes(marker)) return statFields(pid)?.[2];
  }
  return undefined;
}

/** CPU seconds used so far by the processes now in the group. */
function groupCpuSeconds(pgrp: string): number {
  let ticks = 0;
  for (const pid of pids()) {
    const fields = statFields(pid);
    if (fields?.[2] === pgrp) ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/**
 * Stops (SIGTERM) the process group of the server whose command line contains `marker`, for when
 * the server was started but its handle never came back (a signal during start-up).
 */
export function killServerGroup(marker: string): void {
  const pgrp = findProcessGroup(marker);
  if (pgrp === undefined || Number(pgrp) <= 1 || pgrp === statFields('self')?.[2]) return;
  try {
    process.kill(-Number(pgrp), 'SIGTERM');
  } catch {
    // already gone
  }
}

export interface QuietResult {
  /** False when /proc or the server's process was not found, or the timeout passed. */
  readonly quiet: boolean;
  readonly waitedMs: number;
  readonly detail: string;
}

/**
 * Polls the CPU use of the process group of the server whose command line contains `marker`,
 * until it stays under `maxShare` of one CPU for `quietSamples` consecutive one-second windows.
 */
export async function waitForQuietServer(
  marker: string,
  { timeoutMs = 90_000, maxShare = 0.05, quietSamples = 2 } = {},
): Promise<QuietResult> {
  const started = Date.now();
  const pgrp = findProcessGroup(marker);
  if (pgrp === undefined) {
    return { quiet: false, waitedMs: 0, detail: 'server process not found in /proc; not waited' };
  }
  let quietInARow = 0;
  let last = groupCpuSeconds(pgrp);
  let share = Number.NaN;
  while (Date.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const now = groupCpuSeconds(pgrp);
    share = now - last;
    last = now;
    quietInARow = share <= maxShare ? quietInARow + 1 : 0;
    if (quietInARow >= quietSamples) {
      return {
        quiet: true,
        waitedMs: Date.now() - started,
        detail: `group ${pgrp} at ${(share * 100).toFixed(0)}% CPU`,
      };
    }
  }
  return {
    quiet: false,
    waitedMs: Date.now() - started,
    detail: `group ${pgrp} still at ${(share * 100).toFixed(0)}% CPU after ${timeoutMs} ms`,
  };
}
