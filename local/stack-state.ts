/**
 * One local stack per data folder. `npm start` claims `<data>/stack.json` before it starts
 * anything and records in it the process groups of the servers it starts and, once they are up,
 * their addresses; a second start reads it, names the running stack and leaves it alone. Two
 * MLflow servers on one SQLite file would corrupt each other's view, and a second MLflow on
 * another port would silently split the prompts between two registries.
 *
 * The record is written whole and atomically (a temporary file linked or renamed into place), so
 * a reader never sees half of one. A process is identified by its pid and its start time (from
 * /proc where there is one), so a pid reused after a restart is not taken for the stack. A claim
 * whose process is gone (killed with SIGKILL, a crash) is stale: it is taken over, and the server
 * groups it recorded that still run are stopped first, so they never hold the store twice.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupRuns, isAlive, type ProcessRef, processRef, procStat } from './processes';

export interface StackAddresses {
  readonly mlflow?: string;
  readonly api?: string;
  readonly model?: string;
  readonly aws?: string;
}

export interface StackRecord extends ProcessRef {
  readonly startedAt: string;
  /** `starting` until every server is up. */
  readonly state: 'starting' | 'running';
  readonly addresses: StackAddresses;
  /** The servers' process groups (by their leaders). */
  readonly groups: readonly ProcessRef[];
}

export interface HeldClaim {
  readonly claimed: true;
  /** Leftovers of a stale claim that were stopped when it was taken over. */
  readonly stoppedLeftovers: number;
  /** Records the servers' process groups as they start. */
  started(groups: readonly ProcessRef[]): void;
  running(addresses: StackAddresses): void;
  release(): void;
}

export type Claim = HeldClaim | { readonly claimed: false; readonly holder: StackRecord };

/** How long an unreadable record may be someone's write in progress before it counts as debris. */
const UNREADABLE_GRACE_MS = 10_000;

function readRecord(file: string): StackRecord | 'unreadable' | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const record = JSON.parse(text) as StackRecord;
    return Number.isInteger(record.pid) ? { ...record, groups: record.groups ?? [] } : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** The data folder's stack record, when it has a readable one. */
export function readStackRecord(dataDir: string): StackRecord | undefined {
  const record = readRecord(join(dataDir, 'stack.json'));
  return typeof record === 'object' ? record : undefined;
}

function stopLeftovers(record: StackRecord | 'unreadable'): number {
  if (record === 'unreadable') return 0;
  let stopped = 0;
  for (const group of record.groups) {
    // The leader may be gone with its workers still running (a group id is not reused while any
    // member lives); a leader that runs with another start time is another process's.
    const leaderGone = procStat(group.pid) === undefined;
    if (leaderGone ? !groupRuns(group.pid) : !isAlive(group)) continue;
    try {
      process.kill(-group.pid, 'SIGKILL');
      stopped += 1;
    } catch {
      // gone meanwhile
    }
  }
  return stopped;
}

/** Claims the data folder for this process, or names the live stack that holds it. */
export function claimStack(dataDir: string, self: ProcessRef = processRef(process.pid)): Claim {
  const file = join(dataDir, 'stack.json');
  let record: StackRecord = {
    ...self,
    startedAt: new Date().toISOString(),
    state: 'starting',
    addresses: {},
    groups: [],
  };
  const scratch = () => join(dataDir, `.stack.${self.pid}.${randomBytes(4).toString('hex')}`);
  const write = (next: StackRecord, exclusive: boolean) => {
    const temp = scratch();
    try {
      writeFileSync(temp, `${JSON.stringify(next, null, 2)}\n`);
      // link refuses an existing target: creation is exclusive and the content complete at once.
      if (exclusive) linkSync(temp, file);
      else renameSync(temp, file);
    } finally {
      rmSync(temp, { force: true });
    }
  };
  const ours = () => {
    const current = readRecord(file);
    return typeof current === 'object' && current.pid === self.pid && current.start === self.start;
  };

  let stoppedLeftovers = 0;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      write(record, true);
      const update = (next: Partial<StackRecord>) => {
        record = { ...record, ...next };
        if (ours()) write(record, false);
      };
      return {
        claimed: true,
        stoppedLeftovers,
        started: (groups) => update({ groups: [...record.groups, ...groups] }),
        running: (addresses) => update({ state: 'running', addresses }),
        release: () => {
          if (ours()) rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readRecord(file);
    if (holder === undefined) continue;
    if (holder === 'unreadable') {
      const age = Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (!(age > UNREADABLE_GRACE_MS)) {
        return {
          claimed: false,
          holder: { pid: 0, startedAt: '', state: 'starting', addresses: {}, groups: [] },
        };
      }
    } else if (isAlive(holder) && holder.pid !== self.pid) {
      return { claimed: false, holder };
    }
    // Stale: moved aside under a name of our own, so of two starts taking over only one wins.
    const aside = scratch();
    try {
      renameSync(file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const moved = readRecord(aside);
    if (JSON.stringify(moved) !== JSON.stringify(holder)) {
      // Another start replaced the stale record with its claim in between: put that claim back.
      try {
        linkSync(aside, file);
      } catch {
        // a third start holds it now
      }
      rmSync(aside, { force: true });
      continue;
    }
    rmSync(aside, { force: true });
    stoppedLeftovers += stopLeftovers(holder);
  }
  throw new Error(`could not claim ${file}: other starts keep taking it`);
}

/** What a second start prints: the running stack's addresses, and how to stop it. */
export function describeHolder(holder: StackRecord, dataDir: string): string {
  const { addresses } = holder;
  const lines = [
    holder.state === 'running'
      ? `A local stack is already running on ${dataDir} (pid ${holder.pid}, since ${holder.startedAt}):`
      : `A local stack is starting on ${dataDir}${holder.pid ? ` (pid ${holder.pid})` : ''}; its addresses follow once it is up.`,
  ];
  const row = (label: string, value: string | undefined) => {
    if (value) lines.push(`  ${label.padEnd(11)} ${value}`);
  };
  row('MLflow UI', addresses.mlflow && `${addresses.mlflow}/#/prompts`);
  row('HTTP API', addresses.api);
  row('Model', addresses.model);
  row('Local AWS', addresses.aws);
  lines.push(
    holder.pid
      ? `Use it as it is, or stop it (Ctrl-C in its terminal, or kill ${holder.pid}) before starting another.`
      : `Use it once it is up, or stop it before starting another (its record is ${join(dataDir, 'stack.json')}).`,
  );
  return `${lines.join('\n')}\n`;
}
