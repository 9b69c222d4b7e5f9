/**
 * The promote API's contract: request bodies and query strings as schemas (strict: an unknown
 * field is a 400, not silently ignored), and the shapes of its answers. Shared by the function
 * and by the CLI that calls it, so both read the same words.
 */
import * as z from 'zod';
import { checked, parseRequest } from '../http/request';
import { validateAliasName, validateWritableAlias } from '../prompts/names';
import type { AliasMoveRecord } from './history';
import { MAX_REASON_LENGTH, type MoveResult } from './move-alias';

/** The request parser the API's callers (the function, the CLI) share, re-exported with its schemas. */
export { checked, parseRequest };

export const DEFAULT_FROM = 'staging';
export const DEFAULT_TO = 'production';

const writableAlias = z.string().superRefine(checked(validateWritableAlias));
const versionNumber = z
  .number({ error: 'expected a version number (a positive integer)' })
  .int('expected a version number (a positive integer)')
  .positive('expected a version number (a positive integer)')
  .refine(Number.isSafeInteger, 'expected a version number (a positive integer)');
/** A number is a version, a string an alias; each refused with its own reason. */
const aliasOrVersion = z
  .union([z.number(), z.string()], { error: 'expected an alias name or a version number' })
  .superRefine((value, ctx) => {
    if (typeof value === 'string') return checked(validateAliasName)(value, ctx);
    if (!Number.isSafeInteger(value) || value < 1)
      ctx.addIssue({ code: 'custom', message: 'expected a version number (a positive integer)' });
  });
const reason = z.string().trim().min(1).max(MAX_REASON_LENGTH);

export const promoteBodySchema = z.strictObject({
  /** An alias (default `staging`; `latest` allowed) or a version number. */
  from: aliasOrVersion.optional(),
  /** The alias to move (default `production`). */
  to: writableAlias.optional(),
  /** The version `to` must point at now; `null`: `to` must not exist yet. */
  expectedVersion: versionNumber.nullable().optional(),
  reason: reason.optional(),
});
export type PromoteBody = z.infer<typeof promoteBodySchema>;

export const rollbackBodySchema = z.strictObject({
  /** The alias to move back (default `production`). */
  alias: writableAlias.optional(),
  /** Where to; default: where the alias pointed before its last recorded move. */
  toVersion: versionNumber.optional(),
  reason: reason.optional(),
});
export type RollbackBody = z.infer<typeof rollbackBodySchema>;

const pageSize = (max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'expected a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max, `expected at most ${max}`));

export const listQuerySchema = z.strictObject({
  maxResults: pageSize(100).optional(),
  pageToken: z.string().min(1).max(200).optional(),
});

export const describeQuerySchema = z.strictObject({
  /** How many versions, newest first (default 20). */
  maxResults: pageSize(200).optional(),
  pageToken: z.string().min(1).max(2000).optional(),
});

/** What a move (promote or rollback) answers: the move (`name` is the registry name, `by` the caller's ARN), and which. */
export interface MoveResponse extends MoveResult {
  /** The agent's name for the prompt (`orchestrator`). */
  readonly prompt: string;
  readonly action: AliasMoveRecord['action'];
}

export interface VersionSummary {
  readonly version: number;
  /** ISO 8601, when the registry said. */
  readonly createdAt: string | null;
  readonly commitMessage: string | null;
  /** The file content hash the register function recorded (`promptops.content_hash`). */
  readonly contentHash: string | null;
  readonly aliases: readonly string[];
}

export interface PromptDetails {
  readonly name: string;
  readonly prompt: string;
  readonly aliases: Readonly<Record<string, number>>;
  readonly latestVersion: number | null;
  /** Newest first; `nextPageToken` pages further back. */
  readonly versions: readonly VersionSummary[];
  readonly nextPageToken: string | null;
  /** Per alias, its recorded moves, newest first. */
  readonly history: Readonly<Record<string, readonly AliasMoveRecord[]>>;
}

export interface PromptListing {
  readonly prompts: ReadonlyArray<{
    readonly name: string;
    readonly prompt: string;
    /** `false` when the agent's prompt is not in the registry yet. */
    readonly registered: boolean;
    readonly aliases: Readonly<Record<string, number>>;
    readonly latestVersion: number | null;
  }>;
  readonly nextPageToken: string | null;
}
