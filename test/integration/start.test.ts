/** The README's first command, `npm start`, end to end (with --once so it returns). */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/servers';

const exec = promisify(execFile);

describe('npm start', () => {
  it('registers prompts/ through S3 and the register function, then finds them unchanged', async () => {
    const data = mkdtempSync(join(tmpdir(), 'promptops-start-'));
    const run = async () =>
      exec(
        process.execPath,
        ['scripts/start.mjs', '--once', '--data', data, '--port', String(await freePort())],
        {
          timeout: 180_000,
        },
      );
    const first = await run();
    expect(first.stdout).toContain('Uploaded 8 file(s) to s3://promptops-local-prompts/prompts/');
    expect(first.stdout).toContain('Verify (what the scheduled function checks):');
    expect(first.stdout).toContain('every alias resolves to a version the agent can use');
    expect(first.stdout).toMatch(/orchestrator\s+created\s+v1\s+staging -> v1, production -> v1/);
    expect(first.stdout).toContain('8 created, 0 unchanged, 0 failed');
    expect(first.stdout).toMatch(/MLflow UI:\s+http:\/\/127\.0\.0\.1:\d+\/#\/prompts/);
    const second = await run();
    expect(second.stdout).toContain('0 created, 8 unchanged, 0 failed');
  }, 400_000);
});
