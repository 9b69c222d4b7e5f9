/**
 * `npm start` stopped by signals. A SIGTERM to its whole process group reaches it twice (directly
 * and through its wrapper) and counts once: a graceful stop. Interrupted twice while it starts (a
 * second signal does not wait for the servers to stop in turn): every server group it spawned, up
 * or still starting, is killed at once, and its claim on the data folder is released, so the next
 * start finds nothing left behind.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupRuns } from '../../local/processes';
import { readStackRecord, type StackRecord } from '../../local/stack-state';
import { processesUsing, type RunningStack, spawnStack } from '../support/running-stack';
import { freePort } from '../support/servers';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** `npm start --standin` on a fresh data folder; killed at the end if a test left it running. */
async function withStack(prefix: string, test: (stack: RunningStack, data: string) => Promise<void>) {
  const data = mkdtempSync(join(tmpdir(), prefix));
  folders.push(data);
  const stack = spawnStack(['--standin', '--data', data, '--port', String(await freePort())]);
  try {
    await test(stack, data);
  } finally {
    if (stack.child.exitCode === null) stack.signal('SIGKILL');
  }
}

async function interruptTwice(when: (output: string, record: StackRecord | undefined) => boolean) {
  let record: StackRecord | undefined;
  await withStack('promptops-interrupted-', async (stack, data) => {
    // The record as it was when the moment came: the groups to check afterwards.
    await stack.printed((output) => {
      record = readStackRecord(data);
      return when(output, record);
    }, 180_000);
    // Ctrl-C, then a SIGTERM while it stops (another signal: the same one within a moment counts
    // once, as a group-wide signal reaches the stack twice).
    stack.signal('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 50));
    stack.signal('SIGTERM');
    expect(await stack.exited).toBe(130);
    expect(stack.output()).toContain('SIGTERM again; stopped everything at once');
    // SIGKILL lands at once; the processes are gone once reaped.
    for (const group of record?.groups ?? [])
      await expect.poll(() => groupRuns(group.pid), { timeout: 5_000 }).toBe(false);
    await expect.poll(() => processesUsing(data), { timeout: 5_000 }).toEqual([]);
    expect(existsSync(join(data, 'stack.json'))).toBe(false);
  });
  return record;
}

describe('npm start stopped by a SIGTERM to its whole process group', () => {
  it('takes the signal that reaches it twice (directly and through its wrapper) as one, and stops gracefully', async () => {
    await withStack('promptops-sigterm-', async (stack, data) => {
      await stack.printed(/The local stack is up/, 180_000);
      stack.signal('SIGTERM');
      expect(await stack.exited).toBe(0);
      expect(stack.output()).toContain(
        'Stopping the HTTP API, the model stand-in, MLflow and the local AWS emulator',
      );
      expect(stack.output()).not.toContain('stopped everything at once');
      await expect.poll(() => processesUsing(data), { timeout: 5_000 }).toEqual([]);
    });
  }, 240_000);
});

describe('npm start interrupted twice', () => {
  it('kills servers still starting, which it recorded as soon as they were spawned', async () => {
    // MLflow and moto spawned, not up yet: nothing registered.
    const record = await interruptTwice(
      (output, current) => (current?.groups.length ?? 0) >= 2 && !output.includes('Uploaded'),
    );
    expect(record?.groups.length).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('kills everything at once while the HTTP API starts', async () => {
    const record = await interruptTwice((output) => output.includes('Starting the HTTP API'));
    expect(record?.groups.length).toBeGreaterThanOrEqual(2);
  }, 240_000);
});
