/** Audited alias moves against a real MLflow server. */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lib/errors';
import { historyTag, parseHistory, rollbackTarget } from '../../lib/promote/history';
import { MOVED_TAG_PREFIX, moveAlias } from '../../lib/promote/move-alias';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { uniqueName } from '../support/names';

const uri = inject('mlflowUri');
let registry: RegistryClient;
let name: string;
const by = 'arn:aws:sts::123456789012:assumed-role/ci/run-1';
const now = new Date('2026-11-24T10:00:00.000Z');

beforeAll(async () => {
  registry = createRegistryClient({ trackingUri: uri });
  name = uniqueName('move');
  for (const t of ['one {{ q }}', 'two {{ q }}', 'three {{ q }}'])
    await registry.registerPrompt({ name, template: t });
});

describe('moveAlias', () => {
  it('moves an alias, records the move in the history and on the version', async () => {
    const first = await moveAlias(registry, {
      name,
      alias: 'production',
      version: 1,
      expectedVersion: null,
      action: 'promote',
      by,
      now,
    });
    expect(first).toEqual({
      name,
      alias: 'production',
      version: 1,
      previousVersion: null,
      changed: true,
      by,
      at: now.toISOString(),
    });
    const second = await moveAlias(registry, {
      name,
      alias: 'production',
      version: 2,
      expectedVersion: 1,
      action: 'promote',
      by,
      reason: 'better answers',
      now,
    });
    expect(second).toMatchObject({ version: 2, previousVersion: 1, changed: true });
    const prompt = await registry.getPrompt(name);
    expect(prompt.aliases.production).toBe(2);
    const history = parseHistory(prompt.tags[historyTag('production')]);
    expect(history.damaged).toBe(false);
    expect(history.entries.map((e) => [e.version, e.previousVersion])).toEqual([
      [1, null],
      [2, 1],
    ]);
    expect(rollbackTarget(history.entries, 2)).toBe(1);
    const v2 = await registry.getPromptVersion(name, 2);
    expect(JSON.parse(v2.tags[`${MOVED_TAG_PREFIX}production`] ?? '{}')).toEqual({
      by,
      at: now.toISOString(),
      action: 'promote',
      reason: 'better answers',
    });
  });

  it('writes nothing when the alias already points there', async () => {
    const counting = createRegistryClient({ trackingUri: uri });
    const again = await moveAlias(counting, {
      name,
      alias: 'production',
      version: 2,
      action: 'promote',
      by,
      now,
    });
    expect(again).toMatchObject({ changed: false, previousVersion: 2 });
    expect(counting.requestCount).toBe(1);
  });

  it('refuses when the alias is not where the caller expects, naming where it is', async () => {
    const error = await moveAlias(registry, {
      name,
      alias: 'production',
      version: 3,
      expectedVersion: 1,
      action: 'promote',
      by,
      now,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain('points at version 2, not version 1');
    expect((await registry.getPrompt(name)).aliases.production).toBe(2);
  });

  it('refuses a version that does not exist, changing nothing', async () => {
    await expect(
      moveAlias(registry, { name, alias: 'production', version: 9, action: 'promote', by, now }),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(
      parseHistory((await registry.getPrompt(name)).tags[historyTag('production')]).entries,
    ).toHaveLength(2);
  });

  it('refuses what it could not record before moving anything', async () => {
    const counting = createRegistryClient({ trackingUri: uri });
    await expect(
      moveAlias(counting, {
        name,
        alias: 'production',
        version: 3,
        action: 'promote',
        by,
        reason: 'x'.repeat(1_001),
        now,
      }),
    ).rejects.toThrow(/longer than 1000/);
    await expect(
      moveAlias(counting, { name, alias: 'production', version: 3, action: 'promote', by: '', now }),
    ).rejects.toThrow(/principal/);
    expect(counting.requestCount).toBe(0);
  });

  it('moves and records an alias with a non-ASCII name, as MLflow allows', async () => {
    const moved = await moveAlias(registry, { name, alias: 'prodé', version: 3, action: 'promote', by, now });
    expect(moved.changed).toBe(true);
    expect(parseHistory((await registry.getPrompt(name)).tags[historyTag('prodé')]).entries).toHaveLength(1);
  });
});
