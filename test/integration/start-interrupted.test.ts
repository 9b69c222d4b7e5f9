/**
 * `npm start` stopped by signals. A SIGTERM to its whole process group reaches it twice (directly
 * and through its wrapper) and counts once: a graceful stop. Interrupted twice while it starts (a
 * second signal does not wait for the servers to stop in turn): every server group it spawned, up
 * or still starting, is killed at once, and its claim on the data folder is released, so the next
 * start finds nothing left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupRuns } from '../../local/processes';
import type { StackRecord } from '../../local/stack-state';
import { freePort } from '../support/servers';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** Processes whose command line names the folder (MLflow's store, moto's, serverless-offline's). */
function processesUsing(folder: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (command.includes(folder) && Number(pid) !== process.pid) found.push(`${pid}: ${command}`);
    } catch {
      // gone
    }
  }
  return found;
}

/** `npm start --standin` on a fresh data folder, in its own process group as a terminal runs it. */
async function startStack(prefix: string) {
  const data = mkdtempSync(join(tmpdir(), prefix));
  folders.push(data);
  const stack = spawn(
    process.execPath,
    ['scripts/start.mjs', '--standin', '--data', data, '--port', String(await freePort())],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  stack.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  stack.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => stack.once('exit', (code) => resolve(code)));
  return { data, stack, exited, output: () => output };
}

async function interruptTwice(when: (output: string, record: StackRecord | undefined) => boolean) {
  const { data, stack, exited, output } = await startStack('promptops-interrupted-');
  const read = () => {
    try {
      return JSON.parse(readFileSync(join(data, 'stack.json'), 'utf8')) as StackRecord;
    } catch {
      return undefined;
    }
  };
  try {
    const deadline = Date.now() + 180_000;
    let record = read();
    while (!when(output(), record)) {
      if (stack.exitCode !== null || Date.now() > deadline)
        throw new Error(`npm start did not get there:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      record = read();
    }
    // Ctrl-C, then a SIGTERM while it stops (another signal: the same one within a moment counts
    // once, as a group-wide signal reaches the stack twice).
    process.kill(-(stack.pid as number), 'SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(-(stack.pid as number), 'SIGTERM');
    expect(await exited).toBe(130);
    expect(output()).toContain('SIGTERM again; stopped everything at once');
    // SIGKILL lands at once; the processes are gone once reaped.
    for (const group of record?.groups ?? [])
      await expect.poll(() => groupRuns(group.pid), { timeout: 5_000 }).toBe(false);
    await expect.poll(() => processesUsing(data), { timeout: 5_000 }).toEqual([]);
    expect(existsSync(join(data, 'stack.json'))).toBe(false);
    return record;
  } finally {
    if (stack.exitCode === null) process.kill(-(stack.pid as number), 'SIGKILL');
  }
}

describe('npm start stopped by a SIGTERM to its whole process group', () => {
  it('takes the signal that reaches it twice (directly and through its wrapper) as one, and stops gracefully', async () => {
    const { data, stack, exited, output } = await startStack('promptops-sigterm-');
    try {
      const deadline = Date.now() + 180_000;
      while (!output().includes('The local stack is up')) {
        if (stack.exitCode !== null || Date.now() > deadline)
          throw new Error(`npm start did not come up:\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      process.kill(-(stack.pid as number), 'SIGTERM');
      expect(await exited).toBe(0);
      expect(output()).toContain(
        'Stopping the HTTP API, the model stand-in, MLflow and the local AWS emulator',
      );
      expect(output()).not.toContain('stopped everything at once');
      await expect.poll(() => processesUsing(data), { timeout: 5_000 }).toEqual([]);
    } finally {
      if (stack.exitCode === null) process.kill(-(stack.pid as number), 'SIGKILL');
    }
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
