/**
 * The local stack's own parts: one stack per data folder (a second start names the first and
 * leaves it alone; a dead holder's claim is taken over), and the prompt watcher (a save is handed
 * on once its writes settle and only when the content changed; a deletion is reported).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { groupRuns, type ProcessRef, processRef } from '../../local/processes';
import { claimStack, describeHolder } from '../../local/stack-state';
import { type PromptChange, type PromptWatch, watchPrompts } from '../../local/watch-prompts';

const dirs: string[] = [];
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), 'promptops-local-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A process id that existed and is gone: a stack killed without cleaning up. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

/** The record of a stack killed outright, with the server groups it had started. */
async function staleRecordIn(data: string, groups: readonly ProcessRef[]): Promise<void> {
  const record = { pid: await deadPid(), startedAt: 'then', state: 'running', addresses: {}, groups };
  writeFileSync(join(data, 'stack.json'), JSON.stringify(record));
}

describe('one local stack per data folder', () => {
  const other = () => processRef(process.ppid);
  const recordIn = (data: string) => JSON.parse(readFileSync(join(data, 'stack.json'), 'utf8'));

  it('lets the first start claim the folder and shows a second one its addresses', () => {
    const data = scratch();
    const first = claimStack(data);
    if (!first.claimed) throw new Error('the first start did not claim the folder');
    // Another live process (this test's parent) tries the same folder.
    const second = claimStack(data, other());
    expect(second.claimed).toBe(false);
    if (second.claimed) return;
    expect(second.holder).toMatchObject({ pid: process.pid, state: 'starting' });
    expect(describeHolder(second.holder, data)).toMatch(/is starting on .* \(pid \d+\)/);

    first.started([{ pid: 4242, start: 7 }]);
    first.running({
      mlflow: 'http://127.0.0.1:5000',
      api: 'http://127.0.0.1:3000',
      model: 'http://127.0.0.1:8080/v1',
    });
    expect(recordIn(data)).toMatchObject({ state: 'running', groups: [{ pid: 4242, start: 7 }] });
    const third = claimStack(data, other());
    if (third.claimed) throw new Error('a running stack was claimed twice');
    const text = describeHolder(third.holder, data);
    expect(text).toContain(`already running on ${data} (pid ${process.pid}`);
    expect(text).toContain('http://127.0.0.1:5000/#/prompts');
    expect(text).toContain('http://127.0.0.1:3000');
    expect(text).toContain('http://127.0.0.1:8080/v1');
    expect(text).toContain(`kill ${process.pid}`);

    first.release();
    expect(claimStack(data, other()).claimed).toBe(true);
  });

  it('takes over the claim of a stack whose process is gone, and never releases a claim it lost', async () => {
    const data = scratch();
    const gone = await deadPid();
    writeFileSync(
      join(data, 'stack.json'),
      JSON.stringify({ pid: gone, startedAt: 'then', state: 'running', addresses: {} }),
    );
    const claim = claimStack(data);
    expect(claim.claimed).toBe(true);
    expect(recordIn(data).pid).toBe(process.pid);
    // Someone else's record in the file now: releasing ours must leave it.
    writeFileSync(
      join(data, 'stack.json'),
      JSON.stringify({ pid: process.ppid, state: 'running', addresses: {} }),
    );
    if (claim.claimed) claim.release();
    expect(recordIn(data).pid).toBe(process.ppid);
  });

  it('does not take a pid reused by another process for the stack', () => {
    const data = scratch();
    const reused = other();
    if (reused.start === undefined) return; // no /proc here: start times cannot be told apart
    writeFileSync(
      join(data, 'stack.json'),
      JSON.stringify({
        pid: reused.pid,
        start: reused.start - 1,
        startedAt: 'before a restart',
        state: 'running',
        addresses: {},
      }),
    );
    expect(claimStack(data).claimed).toBe(true);
  });

  it('waits on a record being written, and takes over one that stayed unreadable', () => {
    const data = scratch();
    const file = join(data, 'stack.json');
    writeFileSync(file, '');
    const fresh = claimStack(data);
    expect(fresh.claimed).toBe(false);
    if (!fresh.claimed) expect(describeHolder(fresh.holder, data)).toContain(file);
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    expect(claimStack(data).claimed).toBe(true);
  });

  it('stops the servers a stale claim left running before taking it over', async () => {
    const data = scratch();
    const leftover = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const exited = new Promise((resolve) => leftover.once('exit', (_code, signal) => resolve(signal)));
    await staleRecordIn(data, [processRef(leftover.pid as number)]);
    const claim = claimStack(data);
    expect(claim).toMatchObject({ claimed: true, stoppedLeftovers: 1 });
    expect(await exited).toBe('SIGKILL');
  });

  it('stops a leftover group whose leader is gone but whose workers still run', async () => {
    const data = scratch();
    // The leader starts a worker in its group and exits: the group outlives it.
    const leader = spawn('sh', ['-c', 'sleep 60 & exit 0'], { detached: true, stdio: 'ignore' });
    const group = processRef(leader.pid as number);
    await new Promise((resolve) => leader.once('exit', resolve));
    expect(groupRuns(group.pid)).toBe(true);
    await staleRecordIn(data, [group]);
    expect(claimStack(data)).toMatchObject({ claimed: true, stoppedLeftovers: 1 });
    await expect.poll(() => groupRuns(group.pid)).toBe(false);
  });
});

describe('watching the prompt folder', () => {
  let watch: PromptWatch | undefined;
  afterEach(() => watch?.stop());

  /** Watches `dir`, recording each file handed on; `handle` answers for the nth. */
  async function recordChanges(dir: string, handle: (count: number) => unknown, errors?: string[]) {
    const seen: string[] = [];
    watch = await watchPrompts({
      dirs: [dir],
      settleMs: 50,
      onChange: async (change) => {
        seen.push(change.file);
        return handle(seen.length);
      },
      ...(errors ? { onError: (error: unknown) => errors.push((error as Error).message) } : {}),
    });
    return seen;
  }

  it('hands on a changed save once, skips a save without change and other files, and reports a deletion', async () => {
    const dir = scratch();
    const file = join(dir, 'cost_worker.md');
    writeFileSync(file, 'v1');
    const changes: PromptChange[] = [];
    watch = await watchPrompts({
      dirs: [dir],
      known: [file],
      settleMs: 50,
      onChange: async (change) => {
        changes.push(change);
      },
    });
    // An editor's save in several writes: one change, with the final content.
    writeFileSync(file, 'v');
    writeFileSync(file, 'v2');
    await expect.poll(() => changes.length).toBe(1);
    expect(changes[0]).toEqual({ kind: 'saved', file });
    // Saved again unchanged, and files that are not prompts: nothing, once the writes settled.
    writeFileSync(file, 'v2');
    writeFileSync(join(dir, 'notes.txt'), 'not a prompt');
    writeFileSync(join(dir, 'README.md'), 'not a prompt either');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await watch.idle();
    expect(changes).toHaveLength(1);
    unlinkSync(file);
    await expect.poll(() => changes.length).toBe(2);
    expect(changes[1]).toEqual({ kind: 'deleted', file });
    await watch.idle();
    expect(changes).toHaveLength(2);
  });

  it('keeps watching after a change whose handling failed, and says so', async () => {
    const dir = scratch();
    const errors: string[] = [];
    const seen = await recordChanges(
      dir,
      (count) => {
        if (count === 1) throw new Error('registry down');
      },
      errors,
    );
    writeFileSync(join(dir, 'a.md'), 'one');
    await expect.poll(() => errors).toEqual(['registry down']);
    writeFileSync(join(dir, 'b.md'), 'two');
    await expect.poll(() => seen).toEqual([join(dir, 'a.md'), join(dir, 'b.md')]);
    // The failed one, saved again as it was: tried again (a thrown error or an answer of false).
    writeFileSync(join(dir, 'a.md'), 'one');
    await expect.poll(() => seen).toEqual([join(dir, 'a.md'), join(dir, 'b.md'), join(dir, 'a.md')]);
  });

  it('hands on again a save its handler said it did not handle', async () => {
    const dir = scratch();
    const seen = await recordChanges(dir, (count) => count > 1);
    writeFileSync(join(dir, 'a.md'), 'one');
    await expect.poll(() => seen.length).toBe(1);
    writeFileSync(join(dir, 'a.md'), 'one');
    await expect.poll(() => seen.length).toBe(2);
    // Handled now: the same content again is nothing new.
    writeFileSync(join(dir, 'a.md'), 'one');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await watch?.idle();
    expect(seen).toHaveLength(2);
  });

  it('watches a file given alone without its neighbours, and hands nothing on once stopped', async () => {
    const dir = scratch();
    const only = join(dir, 'cost_worker.md');
    const seen: string[] = [];
    watch = await watchPrompts({
      dirs: [],
      files: [only],
      settleMs: 50,
      onChange: async (change) => {
        seen.push(change.file);
      },
    });
    writeFileSync(join(dir, 'orchestrator.md'), 'a neighbour');
    writeFileSync(only, 'the one');
    await expect.poll(() => seen).toEqual([only]);
    writeFileSync(only, 'changed after the stop');
    await watch.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toEqual([only]);
  });
});
