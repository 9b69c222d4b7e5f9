/**
 * What a function that moves aliases builds once per cold start (the lock and the protected-alias
 * policy from its environment) and per invocation (the MoveContext: who moves, where damaged
 * histories are told; the time left is the invocation's deadline, lib/runtime/deadline). The promote and rollout functions share it, so their
 * moves are made under the same rules.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type * as z from 'zod';
import type { moveEnvShape } from '../config/promote-env';
import type { LogFields, Logger } from '../observability/logger';
import type { RegistryClient } from '../registry';
import type { Runtime } from '../runtime/invocation';
import { type AliasLock, createDynamoAliasLock } from './alias-lock';
import type { MoveContext } from './service';

type MoveEnv = { [K in keyof typeof moveEnvShape]: z.output<(typeof moveEnvShape)[K]> };

export interface MoveRules {
  /** The MoveContext of one invocation, for `principal`, on `registry`. */
  contextFor(
    registry: RegistryClient,
    invocation: {
      principal: string;
      log: Logger;
    },
  ): MoveContext;
}

/** A function's alias lock, on the promote API's table; a lease left unreleased is logged. */
export function aliasLockFor(
  logger: Logger,
  client: Pick<DynamoDBClient, 'send'>,
  table: string,
  waitMs?: number,
): AliasLock {
  return createDynamoAliasLock({
    client,
    table,
    ...(waitMs === undefined ? {} : { waitMs }),
    onReleaseFailure: (key, error) => logger.warn('lock not released; it expires', { key, error }),
  });
}

/**
 * Where a history (of an alias, of an experiment) about to be rewritten without its unreadable
 * entries is kept first: an audit line carrying its old value.
 */
export function keepDamagedHistory(log: Logger, fields: LogFields = {}): (previousValue: string) => void {
  return (previousValue) =>
    log.warn('history tag damaged; unreadable entries dropped', { audit: true, ...fields, previousValue });
}

export function createMoveRules(
  runtime: Pick<Runtime, 'logger' | 'naming'>,
  env: MoveEnv,
  dynamodb: Pick<DynamoDBClient, 'send'>,
  now: () => Date,
): MoveRules {
  const lock = aliasLockFor(runtime.logger, dynamodb, env.PROMOTE_LOCK_TABLE, env.PROMOTE_LOCK_WAIT_MS);
  const policy = {
    protectedAliases: env.PROTECTED_ALIASES,
    allowedPrincipals: env.PROTECTED_ALIAS_PRINCIPALS,
  };
  return {
    contextFor: (registry, { principal, log }) => ({
      registry,
      lock,
      naming: runtime.naming,
      policy,
      principal,
      now,
      onDamagedHistory: keepDamagedHistory(log),
    }),
  };
}
