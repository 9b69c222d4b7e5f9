/**
 * Secrets Manager reads, cached at module scope: one fetch in flight per secret, reused for
 * `ttlMs`, failures not cached. `refresh` forces the next read through (credential rotation).
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeadlineExceededError, SecretError, UnavailableError } from '../errors';
import { currentDeadline, settleWithin } from '../runtime/deadline';
import { parseRegistrySecret, type RegistrySecret } from './registry-secret';

export interface SecretCacheOptions {
  readonly client: Pick<SecretsManagerClient, 'send'>;
  readonly ttlMs: number;
  readonly now?: () => number;
}

export interface SecretCache {
  get(secretId: string): Promise<RegistrySecret>;
  /** Drops the cached value and fetches anew. */
  refresh(secretId: string): Promise<RegistrySecret>;
  /** How many fetches reached Secrets Manager (tests, metrics). */
  readonly fetchCount: number;
  clear(): void;
}

interface Entry {
  readonly value: Promise<RegistrySecret>;
  fetchedAt: number;
}

const NOT_FOUND = new Set(['ResourceNotFoundException']);
const REFUSED = new Set(['AccessDeniedException', 'DecryptionFailure', 'InvalidRequestException']);

function wrap(secretId: string, error: unknown): Error {
  if (error instanceof SecretError) return error;
  const name = (error as { name?: unknown })?.name;
  if (typeof name === 'string' && NOT_FOUND.has(name)) {
    return new SecretError(`Secret '${secretId}' does not exist.`, { cause: error });
  }
  if (typeof name === 'string' && REFUSED.has(name)) {
    return new SecretError(`Secret '${secretId}' cannot be read (${name}).`, { cause: error });
  }
  return new UnavailableError(`Secrets Manager did not return secret '${secretId}'.`, { cause: error });
}

export function createSecretCache(options: SecretCacheOptions): SecretCache {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  let fetchCount = 0;

  function fetch(secretId: string): Promise<RegistrySecret> {
    fetchCount += 1;
    const value = options.client
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .then((output) => parseRegistrySecret(secretId, output.SecretString))
      .catch((error: unknown) => {
        // A failure is not cached: the next caller tries again.
        if (entries.get(secretId)?.value === value) entries.delete(secretId);
        throw wrap(secretId, error);
      });
    entries.set(secretId, { value, fetchedAt: now() });
    return value;
  }

  /**
   * A fetch is shared by every caller waiting for it, so no one caller's deadline aborts it: each
   * caller stops waiting at its own deadline instead, and the fetch goes on for the others.
   */
  function within(secretId: string, value: Promise<RegistrySecret>): Promise<RegistrySecret> {
    const deadline = currentDeadline();
    if (deadline === undefined) return value;
    return settleWithin(
      deadline.remainingMs(),
      value,
      () =>
        new DeadlineExceededError(`Secrets Manager did not return secret '${secretId}' in the time left.`),
    );
  }

  return {
    get(secretId) {
      const entry = entries.get(secretId);
      if (entry && now() - entry.fetchedAt < options.ttlMs) return within(secretId, entry.value);
      return within(secretId, fetch(secretId));
    },
    refresh(secretId) {
      entries.delete(secretId);
      return within(secretId, fetch(secretId));
    },
    get fetchCount() {
      return fetchCount;
    },
    clear() {
      entries.clear();
    },
  };
}
