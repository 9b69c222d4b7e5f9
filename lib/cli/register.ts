/**
 * `promptops register`: prompt files from disk into the registry with the core the S3-triggered
 * function uses. Every file is loaded and validated before anything is sent, so a bad file is
 * reported with the others instead of stopping a half-done run; each prompt then succeeds or
 * fails on its own. `--dry-run` answers from reads alone.
 */

import { readFile } from 'node:fs/promises';
import { InvalidPromptFileError, isPromptOpsError } from '../errors';
import { listPromptFiles } from '../prompts/directory';
import { type PromptFile, parsePromptFile, singleBraceNames } from '../prompts/file';
import { type NamingOptions, registryName } from '../prompts/naming';
import {
  type AliasMove,
  aliasMoves,
  currentAliases,
  pendingMoves,
  planRegistration,
  registerPromptFile,
} from '../register/register-prompt-file';
import type { RegistryClient } from '../registry';
import { type ExperimentRef, resolveExperimentId } from '../registry/experiments';
import { isCredentialRefusal } from '../runtime/registry-provider';
import { unifiedDiff } from './diff';
import type { CliIo } from './io';
import type { CliRegistry } from './registry-from-env';
import { readableTemplate } from './show';
import { type FailedRow, formatAliasMoves, formatSummary, formatTable, type SummaryRow } from './summary';

export interface RegisterCommandOptions {
  readonly paths: readonly string[];
  readonly naming: NamingOptions;
  /** How many prompts are registered at once; each file is a different prompt. */
  readonly concurrency: number;
  readonly dryRun: boolean;
  /** The experiment to list the prompts on, as MLflow's SDK does on registration. */
  readonly experiment: ExperimentRef;
}

interface LoadedFile {
  readonly file: PromptFile;
  readonly name: string;
}

type Loaded = LoadedFile | FailedRow;

interface PlannedRow {
  readonly source: string;
  readonly name: string;
  readonly status: 'new prompt' | 'new version' | 'unchanged';
  readonly latest: number | undefined;
  readonly aliasesMoved: readonly AliasMove[];
  /** For a new version: the template's diff against the latest version's, or why there is none. */
  readonly change: string | undefined;
}

type DryRunRow = PlannedRow | FailedRow;

function failed(source: string, name: string, error: unknown): FailedRow {
  const message = error instanceof Error ? error.message : String(error);
  return {
    source,
    name,
    status: 'failed',
    code: isPromptOpsError(error) ? error.code : 'INTERNAL',
    // A file's own errors already start with its path; others get the prompt's name and file.
    reason: error instanceof InvalidPromptFileError ? message : `${name} (${source}): ${message}`,
  };
}

async function loadAll(paths: readonly string[], naming: NamingOptions): Promise<Loaded[]> {
  const loaded: Loaded[] = [];
  const seen = new Map<string, string>();
  for (const path of paths) {
    let sources: string[];
    try {
      sources = await listPromptFiles([path]);
    } catch (error) {
      loaded.push(failed(path, path, error));
      continue;
    }
    for (const source of sources) {
      try {
        const bytes = await readFile(source).catch((cause: unknown) => {
          const code = (cause as { code?: unknown })?.code;
          throw new InvalidPromptFileError(source, `cannot be read (${String(code ?? cause)}).`, { cause });
        });
        const file = parsePromptFile(source, bytes);
        let name: string;
        try {
          name = registryName(file.name, naming);
        } catch (error) {
          throw new InvalidPromptFileError(source, (error as Error).message, { cause: error });
        }
        const previous = seen.get(name);
        if (previous !== undefined) {
          throw new InvalidPromptFileError(
            source,
            `the prompt name '${name}' is already used by ${previous}.`,
          );
        }
        seen.set(name, source);
        loaded.push({ file, name });
      } catch (error) {
        loaded.push(failed(source, source, error));
      }
    }
  }
  return loaded;
}

/**
 * Runs `work` on every item, at most `limit` at a time, results in the items' order. A thrown
 * error stops new items from starting; it is rethrown once those under way have finished.
 */
async function mapPool<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  const queue = items.entries();
  let stopped: { readonly error: unknown } | undefined;
  const worker = async () => {
    for (let next = queue.next(); !next.done && stopped === undefined; next = queue.next()) {
      const [index, item] = next.value;
      try {
        results[index] = await work(item);
      } catch (error) {
        stopped ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (stopped !== undefined) throw stopped.error;
  return results;
}

async function planOne(
  registry: RegistryClient,
  loaded: LoadedFile,
  naming: NamingOptions,
): Promise<PlannedRow> {
  const { file } = loaded;
  const plan = await planRegistration(registry, file, { naming });
  const base = { source: file.source, name: plan.name, latest: plan.latest?.version };
  if (!plan.changed) {
    const moves = pendingMoves(plan);
    return { ...base, status: 'unchanged', aliasesMoved: moves, change: undefined };
  }
  if (plan.latest === undefined) {
    return { ...base, status: 'new prompt', aliasesMoved: aliasMoves({}, 1), change: undefined };
  }
  // MLflow numbers a new version one past the highest, which is the one `latest` resolves to.
  const next = plan.latest.version + 1;
  const diff = unifiedDiff(readableTemplate(plan.latest.template), readableTemplate(file.template), {
    from: `${plan.name} v${plan.latest.version}`,
    to: file.source,
  });
  return {
    ...base,
    status: 'new version',
    aliasesMoved: aliasMoves(currentAliases(plan), next),
    change: diff || '(the template is the same; the tags, model config or response format differ)',
  };
}

function progress(io: CliIo, total: number): (name: string, label: string) => void {
  let done = 0;
  return (name, label) => {
    done += 1;
    if (io.isTTY === true) io.stderr(`[${done}/${total}] ${name} ${label}\n`);
  };
}

function reportFailures(io: CliIo, rows: readonly (SummaryRow | DryRunRow)[]): number {
  const failures = rows.filter((row): row is FailedRow => row.status === 'failed');
  for (const failure of failures) io.stderr(`promptops: ${failure.code}: ${failure.reason}\n`);
  return failures.length > 0 ? 1 : 0;
}

function planLabel(row: DryRunRow): string {
  if (row.status === 'new version') return `new version (latest v${row.latest})`;
  if (row.status === 'unchanged') return `unchanged (v${row.latest})`;
  return row.status;
}

function formatDryRun(rows: readonly DryRunRow[]): string {
  const table = formatTable(
    ['prompt', 'would be', 'aliases that would move'],
    rows.map((row) => [
      row.name,
      planLabel(row),
      row.status === 'failed' ? '-' : formatAliasMoves(row.aliasesMoved),
    ]),
  );
  const changes = rows.flatMap((row) =>
    row.status === 'new version' && row.change !== undefined
      ? [`${row.name}: ${planLabel(row)}\n${row.change.trimEnd()}`]
      : [],
  );
  const count = (status: DryRunRow['status']) => rows.filter((r) => r.status === status).length;
  const counts =
    `dry run: ${count('new prompt')} new prompt(s), ${count('new version')} new version(s), ` +
    `${count('unchanged')} unchanged, ${count('failed')} failed; nothing was written.`;
  return [table, ...changes, counts].join('\n\n');
}

/**
 * Runs `work` on every loaded file with the registry, `concurrency` at a time; a file that did not
 * load keeps its failure. Rows come back in the files' order, whatever order they finish in.
 */
async function forEachPrompt<R extends { readonly status: string }>(
  loaded: readonly Loaded[],
  source: CliRegistry,
  options: RegisterCommandOptions,
  io: CliIo,
  work: (registry: RegistryClient, entry: LoadedFile) => Promise<R>,
  label: (row: R) => string,
): Promise<(R | FailedRow)[]> {
  const isFailed = (entry: Loaded): entry is FailedRow => 'status' in entry;
  const total = loaded.filter((entry) => !isFailed(entry)).length;
  // Nothing valid to send: the registry (or its secret) is not even consulted.
  if (total === 0) return loaded.filter(isFailed);
  return source.withRegistry((registry) => {
    // Counted per attempt: the provider runs this again after fetching a rotated secret.
    const step = progress(io, total);
    return mapPool(loaded, options.concurrency, async (entry): Promise<R | FailedRow> => {
      if (isFailed(entry)) return entry;
      try {
        const row = await work(registry, entry);
        step(entry.name, label(row));
        return row;
      } catch (error) {
        if (isCredentialRefusal(error)) throw error;
        step(entry.name, 'failed');
        return failed(entry.file.source, entry.name, error);
      }
    });
  });
}

/** Returns the exit code: 1 when any file or registration failed, else 0. */
export async function registerCommand(
  options: RegisterCommandOptions,
  source: CliRegistry,
  io: CliIo,
): Promise<number> {
  const loaded = await loadAll(options.paths, options.naming);
  if (loaded.length === 0) {
    throw new InvalidPromptFileError(
      options.paths.join(', '),
      'no prompt files (*.md, README.md excepted) to register.',
    );
  }
  const { naming } = options;
  // Registered as written, but said: MLflow sees no variable in `{query}`.
  for (const entry of loaded) {
    if ('status' in entry) continue;
    const names = singleBraceNames(entry.file.template).filter((n) => !entry.file.variables.includes(n));
    if (names.length > 0) {
      io.stderr(
        `promptops: warning: ${entry.file.source} has ${names.map((n) => `{${n}}`).join(', ')} in single braces: ` +
          `MLflow's variables are {{name}}, so ${names.length === 1 ? 'it is' : 'they are'} plain text to it.\n`,
      );
    }
  }
  if (options.dryRun) {
    const rows = await forEachPrompt(
      loaded,
      source,
      options,
      io,
      (registry, entry) => planOne(registry, entry, naming),
      (row) => row.status,
    );
    io.stdout(`${formatDryRun(rows)}\n`);
    return reportFailures(io, rows);
  }
  // Listing the prompts on the experiment is best effort, as in MLflow's SDK: a refusal is a warning.
  const experimentId = await source
    .withRegistry((registry) => resolveExperimentId(registry, options.experiment))
    .catch((error: unknown) => {
      // Only the registry's refusal is tolerated; no secret or our credentials refused fails the command.
      const ourCredentials: boolean = isCredentialRefusal(error);
      if (!isPromptOpsError(error) || error.registry === undefined || ourCredentials) throw error;
      io.stderr(
        `promptops: warning: prompts not listed on the experiment: ${error.code}: ${error.message}\n`,
      );
      return undefined;
    });
  const rows = await forEachPrompt(
    loaded,
    source,
    options,
    io,
    (registry, entry) => registerPromptFile(registry, entry.file, { naming, experimentId }),
    (row) => `${row.status} v${row.version}`,
  );
  io.stdout(`${formatSummary(rows)}\n`);
  for (const row of rows) {
    if ('experimentNotListed' in row && row.experimentNotListed !== undefined) {
      io.stderr(`promptops: warning: ${row.name} not listed on the experiment: ${row.experimentNotListed}\n`);
    }
  }
  return reportFailures(io, rows);
}
