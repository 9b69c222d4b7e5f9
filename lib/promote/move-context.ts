/**
 * What a function that moves aliases builds once per cold start (the lock and the protected-alias
 * policy from its environment) and per invocation (the MoveContext: who moves, with how much time
 * left, where damaged histories are told). The promote and rollout functions share it, so their
 * moves are made under the same rules.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import type * as z from 'zod';
import type { moveEnvShape } from '../config/promote-env';
import type { Logger } from '../observability/logger';
import type { RegistryClient } from '../registry';
import type { Runtime } from '../runtime/invocation';
import { createDynamoAliasLock } from './alias-lock';
import type { MoveContext } from './service';

type MoveEnv = { [K in keyof typeof moveEnvShape]: z.output<(typeof moveEnvShape)[K]> };

export interface MoveRules {
  /** The MoveContext of one invocation, for `principal`, on `registry`. */
  contextFor(
    registry: RegistryClient,
    invocation: {
      principal: string;
      context: Partial<Pick<Context, 'getRemainingTimeInMillis'>>;
      log: Logger;
    },
  ): MoveContext;
}

export function createMoveRules(
  runtime: Pick<Runtime, 'logger' | 'naming'>,
  env: MoveEnv,
  dynamodb: Pick<DynamoDBClient, 'send'>,
  now: () => Date,
): MoveRules {
  const lock = createDynamoAliasLock({
    client: dynamodb,
    table: env.PROMOTE_LOCK_TABLE,
    waitMs: env.PROMOTE_LOCK_WAIT_MS,
    onReleaseFailure: (key, error) => runtime.logger.warn('lock not released; it expires', { key, error }),
  });
  const policy = {
    protectedAliases: env.PROTECTED_ALIASES,
    allowedPrincipals: env.PROTECTED_ALIAS_PRINCIPALS,
  };
  return {
    contextFor: (registry, { principal, context, log }) => ({
      registry,
      lock,
      naming: runtime.naming,
      policy,
      principal,
      now,
      remainingMs: context.getRemainingTimeInMillis?.bind(context),
      // The history (of an alias, of an experiment) about to be rewritten without its unreadable
      // entries, kept here.
      onDamagedHistory: (previousValue) =>
        log.warn('history tag damaged; unreadable entries dropped', { audit: true, previousValue }),
    }),
  };
}
