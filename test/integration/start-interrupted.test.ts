/**
 * `npm start` interrupted twice while it starts (a second Ctrl-C does not wait for the servers to
 * stop in turn): every server group it started is killed at once, its claim on the data folder is
 * released, so the next start on that folder finds no leftovers to deal with.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupRuns } from '../../local/servers';
import type { StackRecord } from '../../local/stack-state';
import { freePort } from '../support/servers';

const data = mkdtempSync(join(tmpdir(), 'promptops-interrupted-'));
afterAll(() => rmSync(data, { recursive: true, force: true }));

describe('npm start interrupted twice', () => {
  it('kills what it started at once and releases the folder', async () => {
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
    try {
      // Interrupted while serverless-offline starts: MLflow, moto and the stand-in are up.
      const deadline = Date.now() + 180_000;
      while (!output.includes('Starting the HTTP API')) {
        if (stack.exitCode !== null || Date.now() > deadline)
          throw new Error(`npm start did not get there:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const record = JSON.parse(readFileSync(join(data, 'stack.json'), 'utf8')) as StackRecord;
      expect(record.groups.length).toBeGreaterThanOrEqual(2);
      process.kill(-(stack.pid as number), 'SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 50));
      process.kill(-(stack.pid as number), 'SIGINT');
      expect(await exited).toBe(130);
      expect(output).toContain('SIGINT again; stopped everything at once');
      // SIGKILL lands at once; the processes are gone once reaped.
      for (const group of record.groups)
        await expect.poll(() => groupRuns(group.pid), { timeout: 5_000 }).toBe(false);
      expect(existsSync(join(data, 'stack.json'))).toBe(false);
    } finally {
      if (stack.exitCode === null) process.kill(-(stack.pid as number), 'SIGKILL');
    }
  }, 240_000);
});
