/**
 * The bad-input corpus's one checker (test/integration/bad-inputs.test.ts): what a run through an
 * entry point showed its user, and the five properties every refusal must have. A case is handled
 * when its input was refused clearly (a 4xx, exit code 1 or 2, or for the event-driven functions
 * a refusal logged with a stable code), within 15 s, in a message of at most 5 lines that says
 * what is wrong, with no stack trace and no secret value (nor its base64) anywhere in the output,
 * and with the registry left as it was.
 */
import { isDeepStrictEqual } from 'node:util';

/** What one run through an entry point showed. */
export interface Outcome {
  /** Whether the input was refused as it must be (the entry point's own rule, see `status`). */
  readonly refused: boolean;
  /** How it ended, for the report: `HTTP 400 INVALID_INPUT`, `exit 2`, `refused INVALID_PROMPT_FILE`. */
  readonly status: string;
  /** What the user reads about the refusal: the problem's detail, the CLI's error lines, the logged reason. */
  readonly message: string;
  /** Everything the run wrote (answer, output, log lines, the error): searched for stacks and secrets. */
  readonly output: string;
}

export type Entry =
  | 'cli'
  | 's3'
  | 'promote'
  | 'experiment'
  | 'predict'
  | 'feedback'
  | 'verify'
  | 'secret'
  | 'config';

export interface BadInput {
  readonly entry: Entry;
  readonly name: string;
  /** The run through the entry point. */
  run(): Promise<Outcome>;
  /** What the message must say (what is wrong, in the words the user needs). */
  readonly says?: RegExp;
  /** What it must not say (a wrong claim about the input). */
  readonly notSays?: RegExp;
}

export interface Verdict {
  readonly entry: Entry;
  readonly name: string;
  readonly status: string;
  readonly elapsedMs: number;
  readonly message: string;
  /** Each property the run missed, in words; empty when it was handled. */
  readonly misses: readonly string[];
}

export const CASE_BUDGET_MS = 15_000;
export const MAX_MESSAGE_LINES = 5;

/** A stack frame, on its own line or inside a JSON log line (`\n` escaped). */
const STACK_FRAME =
  /(?:^|\n|\\n)\s*at (?:async )?[^\n]*?(?:\(?(?:file:\/\/|node:|\/)[^\n]*:\d+:\d+\)?|<anonymous>)/;

export const lineCount = (text: string) => text.split('\n').filter((line) => line.trim() !== '').length;

/** The secret values to look for in any output: each, and each one's base64. */
export function secretMarkers(values: Readonly<Record<string, string>>): Map<string, string> {
  const markers = new Map<string, string>();
  for (const [label, value] of Object.entries(values)) {
    markers.set(label, value);
    markers.set(`${label} (base64)`, Buffer.from(value, 'utf8').toString('base64'));
    markers.set(`${label} (base64url)`, Buffer.from(value, 'utf8').toString('base64url'));
  }
  return markers;
}

/** Runs one case within its budget (a hang is an outcome too) and judges it. */
export async function judge(
  input: BadInput,
  markers: ReadonlyMap<string, string>,
  registryChange: () => Promise<string | undefined>,
): Promise<Verdict> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Outcome>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          refused: false,
          status: `no answer within ${CASE_BUDGET_MS} ms`,
          message: '',
          output: '',
        }),
      CASE_BUDGET_MS + 1_000,
    );
  });
  let outcome: Outcome;
  try {
    outcome = await Promise.race([input.run(), timedOut]);
  } catch (error) {
    // The case's own harness failed (not the entry point's answer): reported as a miss.
    outcome = {
      refused: false,
      status: `the case could not run: ${(error as Error)?.message ?? String(error)}`,
      message: '',
      output: '',
    };
  } finally {
    clearTimeout(timer);
  }
  const elapsedMs = Math.round(performance.now() - started);
  const misses: string[] = [];
  if (!outcome.refused) misses.push(`not a clear refusal: ${outcome.status}`);
  if (elapsedMs > CASE_BUDGET_MS) misses.push(`took ${elapsedMs} ms (over ${CASE_BUDGET_MS})`);
  const lines = lineCount(outcome.message);
  if (lines === 0) misses.push('no message says what is wrong');
  if (lines > MAX_MESSAGE_LINES) misses.push(`the message is ${lines} lines (over ${MAX_MESSAGE_LINES})`);
  if (input.says && !input.says.test(outcome.message)) misses.push(`the message does not say ${input.says}`);
  if (input.notSays?.test(outcome.message)) misses.push(`the message says ${input.notSays}, which is wrong`);
  const everything = `${outcome.message}\n${outcome.output}`;
  const frame = STACK_FRAME.exec(everything);
  if (frame) misses.push(`a stack trace: ${frame[0].replaceAll('\\n', '').trim().slice(0, 120)}`);
  for (const [label, value] of markers) {
    if (everything.includes(value)) misses.push(`shows the ${label}`);
  }
  const changed = await registryChange();
  if (changed) misses.push(`the registry changed: ${changed}`);
  return {
    entry: input.entry,
    name: input.name,
    status: outcome.status,
    elapsedMs,
    message: outcome.message,
    misses,
  };
}

/** The registry's state under a name prefix, read with MLflow's own REST API (every field it returns). */
export async function registryState(trackingUri: string, prefix: string): Promise<unknown> {
  const names = `name LIKE '${prefix}%'`;
  const all = async (path: string, key: string, filter: string) => {
    const items: unknown[] = [];
    let pageToken: string | undefined;
    do {
      const query = new URLSearchParams({ filter, max_results: '1000' });
      if (pageToken) query.set('page_token', pageToken);
      const response = await fetch(`${trackingUri}/api/2.0/mlflow/${path}?${query}`);
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
      const page = (await response.json()) as Record<string, unknown>;
      items.push(...((page[key] as unknown[] | undefined) ?? []));
      pageToken = page.next_page_token as string | undefined;
    } while (pageToken);
    return items;
  };
  // MLflow leaves prompts out of a search that does not ask for them: both searches, merged.
  const merged = (lists: unknown[][]) =>
    [...new Set(lists.flat().map((item) => JSON.stringify(item)))].sort().map((item) => JSON.parse(item));
  const [models, prompts, versions, promptVersions] = await Promise.all([
    all('registered-models/search', 'registered_models', names),
    all(
      'registered-models/search',
      'registered_models',
      `${names} AND tags.\`mlflow.prompt.is_prompt\` = 'true'`,
    ),
    all('model-versions/search', 'model_versions', names),
    all('model-versions/search', 'model_versions', `${names} AND tag.\`mlflow.prompt.is_prompt\` = 'true'`),
  ]);
  return { prompts: merged([models, prompts]), versions: merged([versions, promptVersions]) };
}

/** What differs between two states, in a few words (which prompts or versions), or undefined. */
export function stateChange(before: unknown, after: unknown): string | undefined {
  if (isDeepStrictEqual(before, after)) return undefined;
  const names = (state: unknown, key: 'prompts' | 'versions') =>
    new Map(
      ((state as Record<string, { name: string; version?: string }[]>)[key] ?? []).map((item) => [
        `${item.name}${item.version ? `/${item.version}` : ''}`,
        JSON.stringify(item),
      ]),
    );
  const differences: string[] = [];
  for (const key of ['prompts', 'versions'] as const) {
    const a = names(before, key);
    const b = names(after, key);
    for (const [id, value] of b) {
      if (!a.has(id)) differences.push(`${id} added`);
      else if (a.get(id) !== value) differences.push(`${id} changed`);
    }
    for (const id of a.keys()) if (!b.has(id)) differences.push(`${id} removed`);
  }
  return differences.slice(0, 5).join(', ') || 'changed';
}

/** The report: one line per case, misses indented under it. */
export function describeVerdicts(verdicts: readonly Verdict[]): string {
  return verdicts
    .map((v) => {
      const head = `${v.misses.length === 0 ? 'ok  ' : 'MISS'} [${v.entry}] ${v.name}: ${v.status} (${v.elapsedMs} ms)`;
      return v.misses.length === 0
        ? head
        : `${head}\n${v.misses.map((m) => `       - ${m}`).join('\n')}\n       message: ${JSON.stringify(v.message.slice(0, 400))}`;
    })
    .join('\n');
}
