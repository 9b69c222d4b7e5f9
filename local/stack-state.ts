/**
 * One local stack per data folder. `npm start` claims `<data>/stack.json` before it starts
 * anything (created exclusively, so two starts racing cannot both win) and fills in the addresses
 * once they are up; a second start reads it, names the running stack and leaves it alone. Two
 * MLflow servers on one SQLite file would corrupt each other's view, and a second MLflow on
 * another port would silently split the prompts between two registries.
 *
 * A claim whose process is gone (killed with SIGKILL, a crash) is stale and taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface StackAddresses {
  readonly mlflow?: string;
  readonly api?: string;
  readonly model?: string;
  readonly aws?: string;
}

export interface StackRecord {
  readonly pid: number;
  readonly startedAt: string;
  /** `starting` until every server is up. */
  readonly state: 'starting' | 'running';
  readonly addresses: StackAddresses;
}

export type Claim =
  | { readonly claimed: true; running(addresses: StackAddresses): void; release(): void }
  | { readonly claimed: false; readonly holder: StackRecord };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readRecord(file: string): StackRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as StackRecord;
    return Number.isInteger(record.pid) ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Claims the data folder for this process, or names the live stack that holds it. */
export function claimStack(dataDir: string, pid = process.pid): Claim {
  const file = join(dataDir, 'stack.json');
  const write = (record: StackRecord) => writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  const first: StackRecord = { pid, startedAt: new Date().toISOString(), state: 'starting', addresses: {} };
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${JSON.stringify(first, null, 2)}\n`);
      closeSync(fd);
      return {
        claimed: true,
        running: (addresses) => write({ ...first, state: 'running', addresses }),
        release: () => {
          if (readRecord(file)?.pid === pid) rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readRecord(file);
      // A file being written this instant reads as nothing: treat it as held, not stale.
      if (holder === undefined) {
        return { claimed: false, holder: { ...first, pid: 0, state: 'starting' } };
      }
      if (alive(holder.pid) && holder.pid !== pid) return { claimed: false, holder };
      rmSync(file, { force: true });
    }
  }
  throw new Error(`could not claim ${file}: another start keeps taking it`);
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
      : 'Use it once it is up, or stop it before starting another.',
  );
  return `${lines.join('\n')}\n`;
}
