/**
 * One move of an alias at a time, across every caller: a lease in DynamoDB taken by a conditional
 * write. Reserved concurrency would serialise one deployed function only; it is not enforced by
 * serverless-offline, nor by a second stack or a script moving aliases, and MLflow's alias API has
 * no compare-and-set. With the lease held, the read-check-write of a move cannot interleave with
 * another's, so two moves never both succeed from the same expected state.
 *
 * The lease expires (a crashed holder cannot block an alias forever) and is released only by its
 * holder (a conditional delete), so an expired holder finishing late cannot free someone else's.
 */
import { randomUUID } from 'node:crypto';
import type { DeleteItemCommandInput, DynamoDBClient, PutItemCommandInput } from '@aws-sdk/client-dynamodb';
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ConfigError, DeadlineExceededError, MoveInProgressError, UnavailableError } from '../errors';
import { remainingMs, sdkCallOptions } from '../runtime/deadline';

/** The lock of one alias of a prompt; case-folded, so aliases differing only in case share one. */
export const aliasLockKey = (name: string, alias: string): string => `${name}#${alias.toLowerCase()}`;

export interface AliasLock {
  /** Runs `work` holding the lock on `key`; waits a little for a busy lock, then gives up. */
  withLock<T>(key: string, work: () => Promise<T>): Promise<T>;
}

export interface DynamoAliasLockOptions {
  readonly client: Pick<DynamoDBClient, 'send'>;
  readonly table: string;
  /** Longer than the function's timeout: a live holder never loses its lease. */
  readonly leaseMs?: number;
  /** How long to wait for a busy lock before answering MOVE_IN_PROGRESS. */
  readonly waitMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told when a lease could not be released (it then expires on its own). */
  readonly onReleaseFailure?: (key: string, error: unknown) => void;
}

const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_WAIT_MS = 10_000;
const RETRY_AFTER_MS = 1_000;
/** Beyond the caller's deadline: its answer margin, and clock skew between holders. */
const LEASE_MARGIN_MS = 5_000;
/** The most a release may take; within the margin a function keeps after its deadline. */
const RELEASE_MS = 1_000;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export function createDynamoAliasLock(options: DynamoAliasLockOptions): AliasLock {
  const { client, table } = options;
  const baseLeaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? pause;

  const failure = (error: unknown, doing: string) =>
    errorName(error) === 'ResourceNotFoundException'
      ? new ConfigError(`The alias lock table '${table}' does not exist (${doing}).`, { cause: error })
      : new UnavailableError(`The alias lock table could not be reached (${doing}).`, { cause: error });

  async function tryAcquire(key: string, owner: string): Promise<boolean> {
    const at = now();
    // Never shorter than the caller's time left: work under the lock ends with the caller's
    // deadline, so a live holder never loses its lease (register and rollout run longer than 60 s).
    const left = remainingMs();
    const leaseMs = Math.max(baseLeaseMs, Number.isFinite(left) ? left + LEASE_MARGIN_MS : 0);
    const input: PutItemCommandInput = {
      TableName: table,
      Item: {
        lockId: { S: key },
        owner: { S: owner },
        expiresAt: { N: String(at + leaseMs) },
        // DynamoDB's TTL deletes stale leases eventually; expiry itself is judged by expiresAt.
        expiresAtEpoch: { N: String(Math.ceil((at + leaseMs) / 1000)) },
      },
      // Ours already counts too: the SDK may resend a put whose answer was lost.
      ConditionExpression: 'attribute_not_exists(lockId) OR expiresAt < :now OR #owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':now': { N: String(at) }, ':owner': { S: owner } },
    };
    try {
      await client.send(new PutItemCommand(input), sdkCallOptions());
      return true;
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return false;
      if (remainingMs() <= 0) {
        throw new DeadlineExceededError(
          "The caller's time ran out while taking the alias lock; nothing was changed.",
          {
            cause: error,
          },
        );
      }
      throw failure(error, 'taking the lock');
    }
  }

  async function release(key: string, owner: string): Promise<void> {
    const input: DeleteItemCommandInput = {
      TableName: table,
      Key: { lockId: { S: key } },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': { S: owner } },
    };
    try {
      // Released even when the caller's time is up (the work may have used all of it): on a
      // short bound of its own, so a slow table cannot hold the invocation past its end.
      await client.send(new DeleteItemCommand(input), { abortSignal: AbortSignal.timeout(RELEASE_MS) });
    } catch (error) {
      // Our lease expired and someone else holds the lock now: it is theirs to release.
      if (errorName(error) === 'ConditionalCheckFailedException') return;
      // Left in place, the lease expires on its own; the move itself succeeded. Said, not thrown.
      options.onReleaseFailure?.(key, error);
    }
  }

  return {
    async withLock(key, work) {
      const owner = randomUUID();
      const deadline = now() + waitMs;
      let delay = 25;
      while (!(await tryAcquire(key, owner))) {
        // No wait outlives the caller's own deadline: it is told at once that the alias is busy.
        if (now() >= deadline || remainingMs() < delay) {
          throw new MoveInProgressError('Another move of this alias is in progress; try again in a moment.', {
            retryAfterMs: RETRY_AFTER_MS,
          });
        }
        // Jittered, growing waits: twenty callers at once do not retry in step.
        await sleep(delay / 2 + Math.random() * delay);
        delay = Math.min(delay * 2, 150);
      }
      try {
        return await work();
      } finally {
        await release(key, owner);
      }
    },
  };
}
