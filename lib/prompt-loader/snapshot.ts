/**
 * The prompts a function falls back to when it starts while the registry is down: a snapshot of
 * what the stage's aliases served when the function was packaged (read from the registry by the
 * packaging step, `promptops snapshot`), or, where no registry could be read then, the files in
 * `prompts/` with no version and no alias. Never a placeholder: every entry is a real template.
 */
import * as z from 'zod';
import { BRIEFLY, InvalidInputError, zodIssues } from '../errors';
import type { PromptFile } from '../prompts/file';
import { type NamingOptions, registryName } from '../prompts/naming';
import { CONTENT_HASH_TAG, contentHash } from '../register/content-hash';
import type { PromptTarget, PromptVersion, RegistryClient } from '../registry';

const json = z.json();
const jsonObject = z.record(z.string(), json);

export const snapshotEntrySchema = z.strictObject({
  /** The agent's short name, e.g. `orchestrator`. */
  key: z.string().min(1),
  /** The registry name the entry was read under. */
  name: z.string().min(1),
  /** Null when taken from a file (no registry version behind it). */
  version: z.number().int().positive().nullable(),
  alias: z.string().min(1).nullable(),
  type: z.enum(['text', 'chat']),
  template: z.union([
    z.string().min(1),
    z.array(z.looseObject({ role: z.string().min(1), content: z.string() })).min(1),
  ]),
  modelConfig: jsonObject.nullable(),
  responseFormat: jsonObject.nullable(),
  contentHash: z.string().nullable(),
});
export type SnapshotEntry = z.infer<typeof snapshotEntrySchema>;

export const promptSnapshotSchema = z.strictObject({
  format: z.literal(1),
  /** Where the entries came from: the registry (by alias) or the prompt files. */
  source: z.enum(['registry', 'files']),
  /** The registry's tracking URI (without credentials) the entries were read from; null for files. */
  registry: z.string().nullable(),
  takenAt: z.iso.datetime(),
  entries: z.array(snapshotEntrySchema),
});
export type PromptSnapshot = z.infer<typeof promptSnapshotSchema>;

/** A snapshot from its JSON text; a wrong shape is an error naming the field, never a crash later. */
export function parsePromptSnapshot(text: string, source: string): PromptSnapshot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new InvalidInputError(`The prompt snapshot ${source} is not JSON.`, { cause });
  }
  const parsed = promptSnapshotSchema.safeParse(value);
  if (!parsed.success) {
    const where = zodIssues(parsed.error, BRIEFLY).line;
    throw new InvalidInputError(`The prompt snapshot ${source} is malformed: ${where}`);
  }
  return parsed.data;
}

export function snapshotFromFiles(
  files: readonly PromptFile[],
  naming: NamingOptions,
  now = new Date(),
): PromptSnapshot {
  return {
    format: 1,
    source: 'files',
    registry: null,
    takenAt: now.toISOString(),
    entries: files.map((file) => ({
      key: file.name,
      name: registryName(file.name, naming),
      version: null,
      alias: null,
      type: typeof file.template === 'string' ? 'text' : 'chat',
      template: file.template as SnapshotEntry['template'],
      modelConfig: (file.modelConfig as SnapshotEntry['modelConfig']) ?? null,
      responseFormat: (file.responseFormat as SnapshotEntry['responseFormat']) ?? null,
      contentHash: contentHash(file),
    })),
  };
}

export function entryFromVersion(key: string, alias: string | null, version: PromptVersion): SnapshotEntry {
  return {
    key,
    name: version.name,
    version: version.version,
    alias,
    type: version.type,
    template: version.template as SnapshotEntry['template'],
    modelConfig: (version.modelConfig as SnapshotEntry['modelConfig']) ?? null,
    responseFormat: (version.responseFormat as SnapshotEntry['responseFormat']) ?? null,
    contentHash: version.tags[CONTENT_HASH_TAG] ?? null,
  };
}

/** What each target serves now, read from the registry in one batch (fails if any is missing). */
export async function snapshotFromRegistry(
  registry: Pick<RegistryClient, 'resolvePrompts' | 'trackingUri'>,
  targets: readonly { key: string; target: PromptTarget }[],
  now = new Date(),
): Promise<PromptSnapshot> {
  const resolved = await registry.resolvePrompts(targets.map((t) => t.target));
  return {
    format: 1,
    source: 'registry',
    registry: registry.trackingUri,
    takenAt: now.toISOString(),
    entries: resolved.map((r, i) =>
      entryFromVersion((targets[i] as { key: string }).key, r.target.alias ?? null, r.version),
    ),
  };
}

/**
 * The snapshot with its versions and aliases dropped: its templates stand in, but their version
 * numbers are not claimed (they were read from another registry than the one in use).
 */
export function withoutVersions(snapshot: PromptSnapshot): PromptSnapshot {
  return { ...snapshot, entries: snapshot.entries.map((e) => ({ ...e, version: null, alias: null })) };
}

/**
 * The entry that may stand in for `target`: same registry name, and the same alias or version
 * (an entry from a file has neither and stands in for any).
 */
export function fallbackFor(
  snapshot: PromptSnapshot | undefined,
  key: string,
  target: PromptTarget,
): SnapshotEntry | undefined {
  const entry = snapshot?.entries.find((e) => e.key === key);
  if (entry === undefined || entry.name !== target.name) return undefined;
  if (entry.version === null) return entry;
  if (target.version !== undefined) return entry.version === target.version ? entry : undefined;
  return entry.alias === target.alias ? entry : undefined;
}
