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
  type ErrorCode,
  InvalidInputError,
  isPromptOpsError,
  NotFoundError,
  UnavailableError,
} from '../errors';
import { validateTagKey } from '../prompts/metadata';
import type { Prompt, RegistryClient } from '../registry';
import { TAG_KEYS } from '../registry/tag-keys';
import { mayHaveTakenEffect } from '../registry/write-effect';
import { deadlineIn, remainingMs, withDeadline } from '../runtime/deadline';
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
   * Told when the alias's history tag held entries that do not parse (edited by hand, cut short):
   * the move rewrites the tag without them, so the old value is handed over to be kept (logged).
   */
  readonly onDamagedHistory?: ((previousValue: string) => void) | undefined;
  /** Refuses the move on the prompt as read under the lock (its tags, aliases), by throwing. */
  readonly check?: ((prompt: Prompt) => void) | undefined;
}

export const MIN_MS_TO_MOVE = 10_000;
/**
 * Kept back from the alias write: the time to read back a write whose answer was lost, then to
 * record the move, or undo it. The write itself gets the rest (at least MIN_MS_TO_MOVE less this).
 */
export const SETTLE_RESERVE_MS = 6_000;

export interface MoveResult {
  readonly name: string;
  readonly alias: string;
  readonly version: number;
  readonly previousVersion: number | null;
  readonly changed: boolean;
  /**
   * Set on a move not made because the alias was there already, but recorded now: its history
   * ended elsewhere (moved outside promptops, or a move's record lost).
   */
  readonly recordedOnly?: true;
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
  const last = history.at(-1);
  if (current === version && (last === undefined || last.version === version)) {
    // Already there: nothing is written (not even history), as a no-op move should be.
    return { name, alias, version, previousVersion: current, changed: false, by, at };
  }
  // The caller's deadline (the Lambda's end, less its answer margin): a move is not started with
  // less than MIN_MS_TO_MOVE left, so a timeout never cuts it between the alias write and its record.
  const left = remainingMs();
  if (left < MIN_MS_TO_MOVE) {
    throw new UnavailableError(
      'Too little time is left to move the alias and record the move; nothing was changed.',
    );
  }
  if (damaged && historyValue !== undefined) request.onDamagedHistory?.(historyValue);
  if (current === version) {
    // There already, but its history ends elsewhere: it was moved outside promptops, or a move's
    // record was lost. The move found made is recorded now (from where the history left it), as
    // a move forward: recorded as a rollback, it would cancel a promotion it never undid.
    const previousVersion = last?.version ?? null;
    await record(registry, { ...request, action: 'promote' }, history, { previousVersion, at });
    return { name, alias, version, previousVersion, changed: false, recordedOnly: true, by, at };
  }
  const uncertain = await writeAlias(registry, request, left);
  try {
    await withUndoReserve(() => record(registry, request, history, { previousVersion: current, at }));
  } catch (failure) {
    // A move is recorded or it did not happen: put the alias and its history back.
    await undo(registry, request, { current, historyValue }, failure);
    if (uncertain) {
      // An attempt of the move whose answer was lost may still land after the undo.
      throw new AuditIncompleteError(
        `Alias '${alias}' of '${name}' was put back after its move could not be recorded, but an ` +
          `earlier attempt of the move to version ${version} may still land; check the alias.`,
        { cause: failure },
      );
    }
    throw failure;
  }
  return { name, alias, version, previousVersion: current, changed: true, by, at };
}

/**
 * The alias write, bounded so that SETTLE_RESERVE_MS of the caller's time is left after it
 * whatever happens. A write whose outcome is unknown (no answer: a timeout, a reset, the
 * deadline) may have been applied, or may still be (a request on its way is not recalled): it is
 * made certain by sending it again, or found made by reading the alias back, and then recorded
 * like any other move. One neither made certain nor found is reported, never left silent.
 * Returns whether the outcome had to be settled (an attempt of it may still be on its way).
 */
async function writeAlias(registry: RegistryClient, request: MoveRequest, left: number): Promise<boolean> {
  const { name, alias, version } = request;
  const write = () => registry.setAlias(name, alias, version);
  try {
    await withSettleReserve(left, write);
    return false;
  } catch (failure) {
    await settleWrite(failure, {
      write,
      applied: async () => (await registry.getPrompt(name)).aliases[alias] === version,
      incomplete: (cause) =>
        new AuditIncompleteError(
          `Alias '${alias}' of '${name}' may have been moved to version ${version}: the registry did ` +
            `not answer the move, and it could be neither confirmed nor found made. The move is not ` +
            `recorded; check the alias.`,
          { cause },
        ),
    });
    return true;
  }
}

/**
 * How the settling reserve is spent when a write's answer was lost: its re-send, then the look for
 * its effect, each bounded; what is left (at least the undo's reserve and a little) records it.
 */
const RESEND_MS = 1_000;
const LOOK_MS = 1_000;

/**
 * After a write failed: returns when it is known to have taken effect, rethrows `failure` when it
 * certainly did not (refused, or never reached the server), and throws `incomplete` otherwise. An
 * idempotent write is sent once more to make it certain (the late first attempt, if it lands,
 * writes the same), then its effect is looked for; a look that finds nothing proves nothing while
 * the first attempt may still be on its way, so that too is `incomplete`.
 */
export async function settleWrite(
  failure: unknown,
  how: {
    readonly write: () => Promise<unknown>;
    readonly applied: () => Promise<boolean>;
    readonly incomplete: (cause: unknown) => Error;
  },
): Promise<void> {
  if (!mayHaveApplied(failure)) throw failure;
  try {
    await withDeadline(deadlineIn(RESEND_MS), how.write);
    return;
  } catch {
    // Not certain yet: look for its effect.
  }
  let found = false;
  try {
    found = await withDeadline(deadlineIn(LOOK_MS), how.applied);
  } catch {
    // Could not look: unknown.
  }
  if (!found) throw how.incomplete(failure);
}

/**
 * Whether a failed write may have been applied. The HTTP client knows, across its attempts (a
 * timed-out first attempt may be followed by a refused re-send); otherwise a refusal (4xx) says
 * nothing was done, and anything else may have been.
 */
export function mayHaveApplied(failure: unknown): boolean {
  const known = mayHaveTakenEffect(failure);
  if (known !== undefined) return known;
  return !(isPromptOpsError(failure) && REFUSALS.has(failure.code));
}

/** What the registry answers when it did not take a write on. */
const REFUSALS: ReadonlySet<ErrorCode> = new Set([
  'INVALID_INPUT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CONFLICT',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'UNSUPPORTED',
  'RATE_LIMITED',
]);

/** Kept back from a move's record: the time to undo the move when the record fails. */
export const UNDO_RESERVE_MS = 2_000;

/** `work` (a record), ending UNDO_RESERVE_MS before the caller's deadline: an undo still fits. */
export function withUndoReserve<T>(work: () => Promise<T>): Promise<T> {
  const left = remainingMs();
  return Number.isFinite(left) ? withDeadline(deadlineIn(left - UNDO_RESERVE_MS), work) : work();
}

/**
 * `write`, ending SETTLE_RESERVE_MS before the time `left` (of the caller's deadline) is up, so
 * that whatever befalls it there is time left to learn its outcome and record or undo it.
 */
export function withSettleReserve<T>(left: number, write: () => Promise<T>): Promise<T> {
  return Number.isFinite(left) ? withDeadline(deadlineIn(left - SETTLE_RESERVE_MS), write) : write();
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
    await restorePromptTag(registry, name, historyTag(alias), before.historyValue);
  } catch (undoFailure) {
    throw new AuditIncompleteError(
      `Alias '${alias}' of '${name}' was moved to version ${version}, but the move could not be ` +
        `recorded, nor undone (${(undoFailure as Error).message}).`,
      { cause: failure },
    );
  }
}

/** A prompt tag put back as it was: its old value, or none (gone already is as good). */
export async function restorePromptTag(
  registry: RegistryClient,
  name: string,
  key: string,
  previous: string | undefined,
): Promise<void> {
  if (previous !== undefined) {
    await registry.setPromptTag(name, key, previous);
    return;
  }
  await registry.deletePromptTag(name, key).catch((error: unknown) => {
    if (!(error instanceof NotFoundError)) throw error;
  });
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
