/**
 * Moving an alias as an audited act: the expected state checked, nothing written when the alias
 * already points where asked, and every move recorded in the alias's history (a prompt tag) and
 * on the version it now points at (a version tag: by, at, reason).
 *
 * The expected-state check here is optimistic, read then write; two callers racing past it at
 * once are kept apart by the caller (the promote function serialises moves per prompt and alias).
 */
import { ConflictError } from '../errors';
import type { RegistryClient } from '../registry';
import { type AliasMoveRecord, appendHistory, historyTag, parseHistory } from './history';

export const MOVED_TAG_PREFIX = 'promptops.moved_to.';

export interface MoveRequest {
  readonly name: string;
  readonly alias: string;
  readonly version: number;
  /** The version the alias must point at now; `null`: it must not exist; absent: no check. */
  readonly expectedVersion?: number | null | undefined;
  readonly action: AliasMoveRecord['action'];
  readonly by: string;
  readonly reason?: string | undefined;
  readonly now: Date;
}

export interface MoveResult {
  readonly name: string;
  readonly alias: string;
  readonly version: number;
  readonly previousVersion: number | null;
  readonly changed: boolean;
  readonly by: string;
  readonly at: string;
}

export async function moveAlias(registry: RegistryClient, request: MoveRequest): Promise<MoveResult> {
  const { name, alias, version, by } = request;
  const at = request.now.toISOString();
  const { prompt } = await registry.inspectPrompt(name);
  const current = prompt.aliases[alias] ?? null;
  if (request.expectedVersion !== undefined && request.expectedVersion !== current) {
    throw new ConflictError(
      `Alias '${alias}' of '${name}' points at ${current === null ? 'no version' : `version ${current}`}, ` +
        `not ${request.expectedVersion === null ? 'nowhere' : `version ${request.expectedVersion}`} as expected.`,
    );
  }
  if (current === version) {
    return { name, alias, version, previousVersion: current, changed: false, by, at };
  }
  await registry.setAlias(name, alias, version);
  const entry: AliasMoveRecord = {
    action: request.action,
    version,
    previousVersion: current,
    by,
    at,
    ...(request.reason ? { reason: request.reason } : {}),
  };
  const history = appendHistory(parseHistory(prompt.tags[historyTag(alias)]).entries, entry);
  await registry.setPromptTag(name, historyTag(alias), JSON.stringify(history));
  await registry.setVersionTag(
    name,
    version,
    `${MOVED_TAG_PREFIX}${alias}`,
    JSON.stringify({ by, at, action: request.action, ...(request.reason ? { reason: request.reason } : {}) }),
  );
  return { name, alias, version, previousVersion: current, changed: true, by, at };
}
