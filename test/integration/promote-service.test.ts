/**
 * The promote service's guarantees under concurrency, against the real MLflow server and the lock
 * in moto's DynamoDB: many moves from one expected state, exactly one succeeds; a source alias
 * that moves while a promotion runs fails the promotion.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ConflictError } from '../../lib/errors';
import { type AliasLock, createDynamoAliasLock } from '../../lib/promote/alias-lock';
import { historyTag, parseHistory } from '../../lib/promote/history';
import { type MoveContext, promote } from '../../lib/promote/service';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { createLockTable } from '../../local/lock-table';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const table = `locks-${randomUUID().slice(0, 8)}`;
const ADMIN = 'arn:aws:iam::123456789012:user/release';
let registry: RegistryClient;
let dynamodb: DynamoDBClient;

async function seed(): Promise<{ prefix: string; name: string }> {
  const prefix = `it.svc.${randomUUID().slice(0, 8)}.`;
  const name = `${prefix}intent_classifier`;
  for (const n of [1, 2, 3]) await registry.registerPrompt({ name, template: `v${n}: classify {{query}}` });
  await registry.setAlias(name, 'production', 1);
  await registry.setAlias(name, 'staging', 2);
  return { prefix, name };
}

function context(prefix: string, lock: AliasLock): MoveContext {
  return {
    registry,
    lock,
    naming: { prefix },
    policy: { protectedAliases: ['production'], allowedPrincipals: [ADMIN] },
    principal: ADMIN,
    now: () => new Date(),
  };
}

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  registry = createRegistryClient({ trackingUri: mlflowUri });
  dynamodb = new DynamoDBClient({});
  await createLockTable(dynamodb, table);
});

describe('promote under concurrency', () => {
  it('20 promotions from one expected state: exactly one moves the alias, the rest conflict', async () => {
    const { prefix, name } = await seed();
    const lock = createDynamoAliasLock({ client: dynamodb, table, waitMs: 15_000 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        promote(context(prefix, lock), 'intent_classifier', { expectedVersion: 1, reason: 'race' }),
      ),
    );
    const moved = outcomes.filter((o) => o.status === 'fulfilled' && o.value.changed);
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(moved).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    const prompt = await registry.getPrompt(name);
    expect(prompt.aliases.production).toBe(2);
    expect(parseHistory(prompt.tags[historyTag('production')]).entries).toHaveLength(1);
  });

  it('without the lock, moves that all read before any writes all go ahead (why the lock exists)', async () => {
    const { prefix } = await seed();
    const noLock: AliasLock = { withLock: (_key, work) => work() };
    // Every move reads the alias, then waits until all ten have read: the interleaving a race can take.
    let reads = 0;
    let aliasWrites = 0;
    let allRead: () => void = () => {};
    const barrier = new Promise<void>((resolve) => {
      allRead = resolve;
    });
    const racing: RegistryClient = {
      ...registry,
      inspectPrompt: async (n) => {
        const state = await registry.inspectPrompt(n);
        reads += 1;
        if (reads === 10) allRead();
        await barrier;
        return state;
      },
      setAlias: async (n, alias, version) => {
        // The moves' own writes; a move whose record then fails puts the alias back to 1.
        if (version !== 1) aliasWrites += 1;
        return registry.setAlias(n, alias, version);
      },
    };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        promote({ ...context(prefix, noLock), registry: racing }, 'intent_classifier', {
          from: 2 + (i % 2),
          expectedVersion: 1,
        }),
      ),
    );
    // Every one of them passed the expected-state check and moved the alias: ten moves from one
    // expected state. (What becomes of each afterwards varies: MLflow's version tag write fails
    // under a concurrent write of the same key, and such a move is then undone.)
    expect(aliasWrites).toBe(10);
    expect(outcomes).toHaveLength(10);
  });

  it('409 when the source alias moves while the promotion waits for the lock', async () => {
    const { prefix, name } = await seed();
    const real = createDynamoAliasLock({ client: dynamodb, table });
    // Someone moves staging between our read of it and our move (as the register function can).
    const interleaved: AliasLock = {
      withLock: async (key, work) => {
        await registry.setAlias(name, 'staging', 3);
        return real.withLock(key, work);
      },
    };
    await expect(promote(context(prefix, interleaved), 'intent_classifier', {})).rejects.toThrow(
      /Alias 'staging' .* moved from version 2 to version 3 while this move ran; nothing was changed/,
    );
    expect((await registry.getPrompt(name)).aliases).toMatchObject({ production: 1, staging: 3 });
  });
});
