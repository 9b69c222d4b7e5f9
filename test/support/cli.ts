import { run } from '../../lib/cli/main';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a `promptops` command in-process, capturing what it prints. */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  isTTY = false,
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env,
    isTTY,
  });
  return { code, stdout, stderr };
}
