/**
 * `npm start` as a terminal runs it, for the tests that drive it: in a process group of its own
 * (an interrupt sent to the group reaches it as Ctrl-C would), its output collected, and a wait
 * for what it prints that fails naming what it did print.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { procPids } from '../../local/processes';

export interface RunningStack {
  readonly child: ChildProcess;
  /** The exit code, once it exited. */
  readonly exited: Promise<number | null>;
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  /** Sends `signal` to the whole process group. */
  signal(signal: NodeJS.Signals): void;
  /**
   * Resolves once `until` holds for the output (from offset `from` on); fails, naming what was
   * printed, when it exits first or the time runs out.
   */
  printed(until: RegExp | ((output: string) => boolean), timeoutMs: number, from?: number): Promise<void>;
}

export function spawnStack(args: readonly string[]): RunningStack {
  const child = spawn(process.execPath, ['scripts/start.mjs', ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: string) => {
    output += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    signal: (signal) => process.kill(-(child.pid as number), signal),
    printed: async (until, timeoutMs, from = 0) => {
      const holds = typeof until === 'function' ? until : (text: string) => until.test(text);
      const deadline = Date.now() + timeoutMs;
      while (!holds(output.slice(from))) {
        if (child.exitCode !== null)
          throw new Error(`npm start exited (${child.exitCode}) before ${until}:\n${output}`);
        if (Date.now() > deadline)
          throw new Error(`npm start did not print ${until} in ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

/** Processes whose command line names the folder (MLflow's store, moto's, serverless-offline's). */
export function processesUsing(folder: string): string[] {
  const found: string[] = [];
  for (const pid of procPids() ?? []) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (command.includes(folder) && pid !== process.pid) found.push(`${pid}: ${command}`);
    } catch {
      // gone
    }
  }
  return found;
}
