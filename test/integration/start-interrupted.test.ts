/**
 * `npm start` interrupted twice while it starts (a second Ctrl-C does not wait for the servers to
 * stop in turn): every server group it spawned, up or still starting, is killed at once, and its
 * claim on the data folder is released, so the next start finds nothing left behind.
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

async function interruptTwice(when: (output: string, record: StackRecord | undefined) => boolean) {
  const data = mkdtempSync(join(tmpdir(), 'promptops-interrupted-'));
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
    while (!when(output, record)) {
      if (stack.exitCode !== null || Date.now() > deadline)
        throw new Error(`npm start did not get there:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      record = read();
    }
    process.kill(-(stack.pid as number), 'SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(-(stack.pid as number), 'SIGINT');
    expect(await exited).toBe(130);
    expect(output).toContain('SIGINT again; stopped everything at once');
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
