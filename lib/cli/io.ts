/** What a CLI command may touch, so tests run commands in-process with fakes. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal: progress lines are for people watching, not for logs. */
  readonly isTTY?: boolean | undefined;
}

/** A mistake in how the command was called: exit code 2 and a usage hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
