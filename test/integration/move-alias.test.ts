/** Audited alias moves against a real MLflow server. */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  AuditIncompleteError,
  ConflictError,
  DeadlineExceededError,
  NotFoundError,
  UnavailableError,
} from '../../lib/errors';
import { historyTag, parseHistory, rollbackTarget } from '../../lib/promote/history';
import { MIN_MS_TO_MOVE, MOVED_TAG_PREFIX, moveAlias } from '../../lib/promote/move-alias';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { currentDeadline, deadlineIn, withDeadline } from '../../lib/runtime/deadline';
import { uniqueName } from '../support/names';
import { freePort } from '../support/servers';

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

  /** The real registry, with one of its writes failing (as a network cut or a throttle would). */
  function failing(failOn: (method: string, call: number) => boolean): RegistryClient {
    const calls = new Map<string, number>();
    return new Proxy(registry, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const call = (calls.get(key) ?? 0) + 1;
          calls.set(key, call);
          if (failOn(key, call)) return Promise.reject(new UnavailableError(`${key}: injected failure`));
          return value.apply(target, args);
        };
      },
    });
  }

  /** The real registry with some of its methods replaced (a seam for faults the proxy cannot make). */
  function replacing(methods: Partial<Record<keyof RegistryClient, (...args: never[]) => Promise<unknown>>>) {
    return new Proxy(registry, {
      get(target, key, receiver) {
        const own = methods[key as keyof RegistryClient];
        if (own) return own;
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** A prompt of its own with two versions, production on 1. */
  async function productionOnOne(label: string): Promise<string> {
    const own = uniqueName(label);
    for (const t of ['one {{ q }}', 'two {{ q }}']) await registry.registerPrompt({ name: own, template: t });
    await moveAlias(registry, { name: own, alias: 'production', version: 1, action: 'promote', by, now });
    return own;
  }

  /** Production to version 2 through `client`; the error it fails with. */
  const promoteToTwo = (client: RegistryClient, own: string) =>
    moveAlias(client, { name: own, alias: 'production', version: 2, action: 'promote', by, now }).catch(
      (e: unknown) => e,
    );

  it('puts the alias and its history back when the move cannot be recorded', async () => {
    const own = await productionOnOne('undo');
    const before = await registry.getPrompt(own);

    // The history is written, then the version tag fails.
    const error = await promoteToTwo(
      failing((method) => method === 'setVersionTag'),
      own,
    );
    expect(error).toBeInstanceOf(UnavailableError);
    const after = await registry.getPrompt(own);
    expect(after.aliases.production).toBe(1);
    expect(after.tags[historyTag('production')]).toBe(before.tags[historyTag('production')]);

    // A first move (the alias did not exist): undone by deleting the alias and the new history.
    const first = failing((method) => method === 'setVersionTag');
    await expect(
      moveAlias(first, { name: own, alias: 'canary', version: 2, action: 'promote', by, now }),
    ).rejects.toBeInstanceOf(UnavailableError);
    const cleared = await registry.getPrompt(own);
    expect(cleared.aliases).not.toHaveProperty('canary');
    expect(cleared.tags).not.toHaveProperty(historyTag('canary'));
  });

  it('says AUDIT_INCOMPLETE, keeping the first failure as its cause, when the undo fails too', async () => {
    const own = await productionOnOne('undo2');
    // The move's own setAlias succeeds; the record fails; the undo's setAlias fails as well.
    const error = await promoteToTwo(
      failing((method, call) => method === 'setPromptTag' || (method === 'setAlias' && call === 2)),
      own,
    );
    expect(error).toBeInstanceOf(AuditIncompleteError);
    expect(error).toMatchObject({ code: 'AUDIT_INCOMPLETE' });
    expect((error as Error).message).toContain("Alias 'production' of");
    expect((error as Error).cause).toBeInstanceOf(UnavailableError);
    expect((await registry.getPrompt(own)).aliases.production).toBe(2);
  });

  /**
   * The real registry; `setAlias` calls for which `lose` says so reach the server (or not, with
   * `applied: false`) and their answer is lost; the look for the move's effect (`getPrompt`)
   * fails when `blind`.
   */
  function answerLost(options: { applied: boolean; blind?: boolean }): RegistryClient {
    return replacing({
      setAlias: async (...args: Parameters<RegistryClient['setAlias']>) => {
        if (options.applied) await registry.setAlias(...args);
        throw new UnavailableError('setAlias: the registry did not answer (timed out)');
      },
      ...(options.blind
        ? {
            // The move's own read (inspectPrompt) goes through; the look after the lost answer fails.
            getPrompt: () => Promise.reject(new UnavailableError('down')),
          }
        : {}),
    });
  }

  it('records a move whose answer was lost but which the registry made (read back)', async () => {
    const own = await productionOnOne('lost-applied');
    const moved = await moveAlias(answerLost({ applied: true }), {
      name: own,
      alias: 'production',
      version: 2,
      action: 'promote',
      by,
      now,
    });
    expect(moved).toMatchObject({ version: 2, previousVersion: 1, changed: true });
    const prompt = await registry.getPrompt(own);
    expect(prompt.aliases.production).toBe(2);
    const entries = parseHistory(prompt.tags[historyTag('production')]).entries;
    expect(entries.map((e) => [e.version, e.previousVersion])).toEqual([
      [1, null],
      [2, 1],
    ]);
    expect((await registry.getPromptVersion(own, 2)).tags[`${MOVED_TAG_PREFIX}production`]).toBeDefined();
  });

  it('reports a lost write not found made (it may still land), not "nothing changed"', async () => {
    const own = await productionOnOne('lost-in-flight');
    const before = await registry.getPrompt(own);
    // The write is on its way when its answer is lost: it lands after the move has looked.
    const inFlight = replacing({
      setAlias: async (...args: Parameters<RegistryClient['setAlias']>) => {
        // (A late write under an expired deadline fails; the first, made without one, lands.)
        setTimeout(() => registry.setAlias(...args).catch(() => undefined), 3_000);
        throw new UnavailableError('setAlias: the registry did not answer (timed out)');
      },
    });
    const error = await promoteToTwo(inFlight, own);
    expect(error).toBeInstanceOf(AuditIncompleteError);
    expect((error as Error).message).toMatch(/may have been moved to version 2/);
    expect((await registry.getPrompt(own)).tags).toEqual(before.tags);
    // It landed: the alias moved unrecorded, as the report warned (and verify's ALIAS_UNRECORDED finds).
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect((await registry.getPrompt(own)).aliases.production).toBe(2);
  }, 20_000);

  it('says nothing was changed when no attempt of the write reached the registry', async () => {
    const own = await productionOnOne('never-sent');
    const before = await registry.getPrompt(own);
    // The alias write goes to a port nothing listens on: refused before anything was sent.
    const dead = createRegistryClient({
      trackingUri: `http://127.0.0.1:${await freePort()}`,
      retry: { maxAttempts: 2 },
    });
    const unreachable = replacing({ setAlias: dead.setAlias.bind(dead) });
    const error = await promoteToTwo(unreachable, own);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(await registry.getPrompt(own)).toEqual(before);
  });

  it('reports AUDIT_INCOMPLETE when a move whose answer was lost cannot be read back', async () => {
    const own = await productionOnOne('lost-blind');
    const error = await promoteToTwo(answerLost({ applied: true, blind: true }), own);
    expect(error).toBeInstanceOf(AuditIncompleteError);
    expect((error as Error).message).toMatch(/may have been moved to version 2/);
    expect((error as Error).cause).toBeInstanceOf(UnavailableError);
  });

  it("bounds the alias write by the caller's deadline, keeping time to settle it", async () => {
    const own = await productionOnOne('deadline');
    // A registry whose alias write hangs: the write is cut when only the settling reserve is left,
    // and its re-send and the look for its effect fit in that reserve.
    const hanging = replacing({
      setAlias: () =>
        new Promise((_, reject) => {
          const signal = currentDeadline()?.signal;
          signal?.addEventListener('abort', () => reject(new DeadlineExceededError('setAlias: aborted')));
        }),
    });
    const started = Date.now();
    const error = await withDeadline(deadlineIn(MIN_MS_TO_MOVE + 500), () => promoteToTwo(hanging, own));
    const took = Date.now() - started;
    // Cut at the deadline less the reserve; not found made in the reserve, so reported, in time.
    expect(error).toBeInstanceOf(AuditIncompleteError);
    expect(took).toBeLessThan(MIN_MS_TO_MOVE + 500);
    expect((await registry.getPrompt(own)).aliases.production).toBe(1);
  }, 20_000);

  it('records a move found made outside it when asked to move the alias where it already is', async () => {
    const own = await productionOnOne('outside');
    await registry.setAlias(own, 'production', 2);
    const recorded = await moveAlias(registry, {
      name: own,
      alias: 'production',
      version: 2,
      action: 'promote',
      by,
      now,
      reason: 'moved in the MLflow UI by carol',
    });
    expect(recorded).toMatchObject({ changed: false, recordedOnly: true, version: 2 });
    const entries = parseHistory((await registry.getPrompt(own)).tags[historyTag('production')]).entries;
    expect(entries.map((e) => [e.version, e.previousVersion, e.reason])).toEqual([
      [1, null, undefined],
      [2, 1, 'moved in the MLflow UI by carol'],
    ]);
    // Asked again: recorded already, nothing written.
    const again = await moveAlias(registry, {
      name: own,
      alias: 'production',
      version: 2,
      action: 'promote',
      by,
      now,
    });
    expect(again).toEqual(expect.not.objectContaining({ recordedOnly: true }));
    expect(parseHistory((await registry.getPrompt(own)).tags[historyTag('production')]).entries).toHaveLength(
      2,
    );
  });

  it('does not start a move with too little time left to record it', async () => {
    const own = uniqueName('late');
    await registry.registerPrompt({ name: own, template: 'one {{ q }}' });
    await expect(
      withDeadline(deadlineIn(2_000), () =>
        moveAlias(registry, { name: own, alias: 'production', version: 1, action: 'promote', by, now }),
      ),
    ).rejects.toBeInstanceOf(UnavailableError);
    expect((await registry.getPrompt(own)).aliases).toEqual({});
  });

  it('hands over a damaged history before rewriting it without its unreadable entries', async () => {
    const own = await productionOnOne('damaged');
    const valid = parseHistory((await registry.getPrompt(own)).tags[historyTag('production')]).entries;
    const damaged = JSON.stringify([{ version: 'x', by: 'hand-edited' }, ...valid]);
    await registry.setPromptTag(own, historyTag('production'), damaged);
    const handed: string[] = [];
    await moveAlias(registry, {
      name: own,
      alias: 'production',
      version: 2,
      action: 'promote',
      by,
      now,
      onDamagedHistory: (value) => handed.push(value),
    });
    expect(handed).toEqual([damaged]);
    const entries = parseHistory((await registry.getPrompt(own)).tags[historyTag('production')]).entries;
    expect(entries.map((e) => e.version)).toEqual([1, 2]);
  });
});
