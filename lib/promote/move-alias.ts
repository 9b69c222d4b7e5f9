/**
 * Moving an alias as an audited act: the expected state checked, nothing written when the alias
 * already points where asked, and every move recorded in the alias's history (a prompt tag) and
 * on the version it now points at (a version tag: by, at, reason).
 *
 * The expected-state check here is read then write; two callers racing past it at once are kept
 * apart by the caller, which holds the alias's lock (lib/promote/alias-lock.ts) around the move.
 */
import {
  AuditIncompleteError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
} from '../errors';
import { validateTagKey } from '../prompts/metadata';
import type { Prompt, RegistryClient } from '../registry';
import { TAG_KEYS } from '../registry/tag-keys';
import { type AliasMoveRecord, appendHistory, historyTag, parseHistory } from './history';

export const MOVED_TAG_PREFIX = TAG_KEYS.oss.movedToPrefix;

export interface MoveRequest {
  readonly name: string;
  readonly alias: string;
  readonly version: number;
  /** The version the alias must point at now; `null`: it must not exist; absent: no check. */
  readonly expectedVersion?: number | null | undefined;
  /**
   * The alias the version was taken from, and the version it pointed at then: the move is refused
   * if that alias has moved since (the caller promoted what `staging` was, not what it is now).
   */
  readonly from?: { readonly alias: string; readonly version: number } | undefined;
  readonly action: AliasMoveRecord['action'];
  readonly by: string;
  readonly reason?: string | undefined;
  readonly now: Date;
  /**
   * Time left to finish (e.g. the Lambda's remaining time): a move is not started with less than
   * MIN_MS_TO_MOVE left, so a timeout never cuts it between the alias write and its record.
   */
  readonly remainingMs?: (() => number) | undefined;
  /**
   * Told when the alias's history tag held entries that do not parse (edited by hand, cut short):
   * the move rewrites the tag without them, so the old value is handed over to be kept (logged).
   */
  readonly onDamagedHistory?: ((previousValue: string) => void) | undefined;
  /** Refuses the move on the prompt as read under the lock (its tags, aliases), by throwing. */
  readonly check?: ((prompt: Prompt) => void) | undefined;
}

export const MIN_MS_TO_MOVE = 8_000;

export interface MoveResult {
  readonly name: string;
  readonly alias: string;
  readonly version: number;
  readonly previousVersion: number | null;
  readonly changed: boolean;
  readonly by: string;
  readonly at: string;
}

/** Long enough for an explanation, short enough that a move always fits the history's bound. */
export const MAX_REASON_LENGTH = 1_000;
const MAX_PRINCIPAL_LENGTH = 1_000;

export async function moveAlias(registry: RegistryClient, request: MoveRequest): Promise<MoveResult> {
  const { name, alias, version, by } = request;
  const at = request.now.toISOString();
  // Everything the audit writes is checked before the alias moves: a move is never left unrecorded
  // because its record was refused afterwards.
  if (request.reason !== undefined && request.reason.length > MAX_REASON_LENGTH) {
    throw new InvalidInputError(`The reason is longer than ${MAX_REASON_LENGTH} characters.`);
  }
  if (by.length === 0 || by.length > MAX_PRINCIPAL_LENGTH) {
    throw new InvalidInputError('The principal moving the alias is missing or too long.');
  }
  validateTagKey(historyTag(alias));
  validateTagKey(`${MOVED_TAG_PREFIX}${alias}`);

  const { prompt, latest } = await registry.inspectPrompt(name);
  request.check?.(prompt);
  const current = prompt.aliases[alias] ?? null;
  if (request.from) {
    const source = request.from.alias;
    const now =
      source.toLowerCase() === 'latest' ? (latest?.version ?? null) : (prompt.aliases[source] ?? null);
    if (now !== request.from.version) {
      throw new ConflictError(
        `Alias '${source}' of '${name}' moved from version ${request.from.version} to ` +
          `${now === null ? 'nowhere' : `version ${now}`} while this move ran; nothing was changed.`,
      );
    }
  }
  if (request.expectedVersion !== undefined && request.expectedVersion !== current) {
    throw new ConflictError(
      `Alias '${alias}' of '${name}' points at ${current === null ? 'no version' : `version ${current}`}, ` +
        `not ${request.expectedVersion === null ? 'nowhere' : `version ${request.expectedVersion}`} as expected.`,
    );
  }
  const historyValue = prompt.tags[historyTag(alias)];
  const { entries: history, damaged } = parseHistory(historyValue);
  if (current === version) {
    // Already there: nothing is written (not even history), as a no-op move should be.
    return { name, alias, version, previousVersion: current, changed: false, by, at };
  }
  if (request.remainingMs && request.remainingMs() < MIN_MS_TO_MOVE) {
    throw new UnavailableError(
      'Too little time is left to move the alias and record the move; nothing was changed.',
    );
  }
  if (damaged && historyValue !== undefined) request.onDamagedHistory?.(historyValue);
  await registry.setAlias(name, alias, version);
  try {
    await record(registry, request, history, { previousVersion: current, at });
  } catch (failure) {
    // A move is recorded or it did not happen: put the alias and its history back.
    await undo(registry, request, { current, historyValue }, failure);
    throw failure;
  }
  return { name, alias, version, previousVersion: current, changed: true, by, at };
}

async function undo(
  registry: RegistryClient,
  request: MoveRequest,
  before: { current: number | null; historyValue: string | undefined },
  failure: unknown,
): Promise<void> {
  const { name, alias, version } = request;
  try {
    if (before.current === null) await registry.deleteAlias(name, alias);
    else await registry.setAlias(name, alias, before.current);
    if (before.historyValue !== undefined) {
      await registry.setPromptTag(name, historyTag(alias), before.historyValue);
    } else {
      await registry.deletePromptTag(name, historyTag(alias)).catch((error: unknown) => {
        if (!(error instanceof NotFoundError)) throw error;
      });
    }
  } catch (undoFailure) {
    throw new AuditIncompleteError(
      `Alias '${alias}' of '${name}' was moved to version ${version}, but the move could not be ` +
        `recorded, nor undone (${(undoFailure as Error).message}).`,
      { cause: failure },
    );
  }
}

async function record(
  registry: RegistryClient,
  request: MoveRequest,
  history: readonly AliasMoveRecord[],
  move: { previousVersion: number | null; at: string },
): Promise<void> {
  const { name, alias, version, by } = request;
  const reason = request.reason ? { reason: request.reason } : {};
  const entry: AliasMoveRecord = {
    action: request.action,
    version,
    previousVersion: move.previousVersion,
    by,
    at: move.at,
    ...reason,
  };
  await registry.setPromptTag(name, historyTag(alias), JSON.stringify(appendHistory(history, entry)));
  await registry.setVersionTag(
    name,
    version,
    `${MOVED_TAG_PREFIX}${alias}`,
    JSON.stringify({ by, at: move.at, action: request.action, ...reason }),
  );
}
