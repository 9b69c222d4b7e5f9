/**
 * Processes as the local stack tells them apart: by pid and start time (a pid is reused after a
 * restart), and process groups by their members that still run. Zombies do not count: they have
 * exited and hold nothing, but where the container's first process does not collect orphans they
 * stay listed for good.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** A process, as `ps` would not confuse it with a later one of the same pid. */
export interface ProcessRef {
  readonly pid: number;
  /** Its start time in clock ticks since boot (Linux), when known. */
  readonly start?: number | undefined;
}

/** The process's state and start time from /proc; undefined where there is no /proc or no such process. */
export function procStat(pid: number): { state: string; group: number; start: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields 3 (state), 5 (process group) and 22 (start time), counted after the command name,
    // which may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? { state: fields[0] ?? '', group: Number(fields[2]), start } : undefined;
  } catch {
    return undefined;
  }
}

export function processRef(pid: number): ProcessRef {
  return { pid, start: procStat(pid)?.start };
}

/** The pids /proc lists, or undefined where there is no /proc. */
export function procPids(): number[] | undefined {
  try {
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return undefined;
  }
}

/** Whether that very process still runs (not another one that got its pid). */
export function isAlive(ref: ProcessRef): boolean {
  try {
    process.kill(ref.pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = procStat(ref.pid);
  // A zombie has exited; only its parent has not collected it yet.
  if (now?.state === 'Z') return false;
  return ref.start === undefined || now === undefined || now.start === ref.start;
}

/** Whether a process of the group still runs (zombies aside, where /proc tells them apart). */
export function groupRuns(group: number): boolean {
  const pids = procPids();
  if (pids === undefined) {
    try {
      process.kill(-group, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return pids.some((pid) => {
    const stat = procStat(pid);
    return stat !== undefined && stat.group === group && stat.state !== 'Z';
  });
}
