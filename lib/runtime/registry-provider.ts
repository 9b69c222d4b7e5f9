/**
 * The registry a function talks to, built from the secret: the client is reused while the secret
 * is, and when the registry refuses our credentials (401; a 403 is not that, see
 * isCredentialRefusal) the secret is fetched again once and the call retried once, so a rotated
 * secret is picked up without a cold start.
 */

import type { Dispatcher } from 'undici';
import { credentialsOfSecret } from '../databricks/from-secret';
import { createDatabricksRegistryClient } from '../databricks/registry';
import { UnauthorizedError } from '../errors';
import { createRegistryClient, type RegistryClient, resolveAuth } from '../registry';
import type { RegistrySecret } from '../secrets/registry-secret';
import type { SecretCache } from '../secrets/secret-cache';

export interface RegistryProviderOptions {
  readonly secrets: SecretCache;
  readonly secretId: string;
  readonly timeoutMs?: number | undefined;
  readonly dispatcher?: Dispatcher | undefined;
  /** On Unity Catalog, where searches look (PROMPT_CATALOG, PROMPT_SCHEMA). */
  readonly catalog?: string | undefined;
  readonly schema?: string | undefined;
}

export interface WithRegistryOptions {
  /**
   * Whether `work` may be run again after it wrote to the registry (default true: the work is
   * idempotent, as a registration is). An alias move is not: run twice, its second run would see
   * its own first move; so a refusal after a write fails the call instead.
   */
  readonly rerunAfterWrite?: boolean;
}

export interface RegistryProvider {
  /** Runs `work` with the registry; on a credential refusal, refreshes the secret and runs it once more. */
  withRegistry<T>(work: (registry: RegistryClient) => Promise<T>, options?: WithRegistryOptions): Promise<T>;
}

/**
 * Which of the client's members write to the registry. Every member must be classified here, so a
 * new write method cannot slip past the watch below unnoticed: the type check fails until it is.
 */
const ACCESS = {
  trackingUri: 'read',
  requestCount: 'read',
  traceStore: 'read',
  createPrompt: 'write',
  registerPrompt: 'write',
  createPromptVersion: 'write',
  inspectPrompt: 'read',
  getPrompt: 'read',
  getPromptVersion: 'read',
  resolveAlias: 'read',
  resolveAliases: 'read',
  resolvePrompts: 'read',
  loadPrompt: 'read',
  setAlias: 'write',
  deleteAlias: 'write',
  findPrompts: 'read',
  searchPrompts: 'read',
  searchPromptVersions: 'read',
  setPromptTag: 'write',
  deletePromptTag: 'write',
  setVersionTag: 'write',
  deletePrompt: 'write',
  linkPromptsToTrace: 'write',
  logSpans: 'write',
  getExperimentIdByName: 'read',
  createExperiment: 'write',
  startTraceV3: 'write',
  uploadTraceData: 'write',
  logFeedback: 'write',
  searchTraces: 'read',
} as const satisfies Record<keyof RegistryClient, 'read' | 'write'>;

const isWrite = (key: string) => (ACCESS as Readonly<Record<string, string>>)[key] === 'write';

/** `registry`, with `onWrite` called before any of its writes. */
function watchingWrites(registry: RegistryClient, onWrite: () => void): RegistryClient {
  return new Proxy(registry, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || typeof value !== 'function' || !isWrite(key)) return value;
      return (...args: unknown[]) => {
        onWrite();
        return value.apply(target, args);
      };
    },
  });
}

function clientFor(secret: RegistrySecret, options: RegistryProviderOptions): RegistryClient {
  const registry = secret.registry;
  if (registry.type === 'databricks') {
    return createDatabricksRegistryClient({
      credentials: credentialsOfSecret(registry, options),
      catalog: options.catalog,
      schema: options.schema,
      timeoutMs: options.timeoutMs,
      dispatcher: options.dispatcher,
    });
  }
  return createRegistryClient({
    trackingUri: registry.trackingUri,
    auth: resolveAuth(registry),
    timeoutMs: options.timeoutMs,
    dispatcher: options.dispatcher,
  });
}

/**
 * The registry refusing *our credentials* (401): the secret may have been rotated. A 403 is not:
 * MLflow answers a user without permission on one resource with 403, which is that call's failure.
 */
export function isCredentialRefusal(error: unknown): error is UnauthorizedError {
  return error instanceof UnauthorizedError && error.registry !== undefined;
}

export function createRegistryProvider(options: RegistryProviderOptions): RegistryProvider {
  // Keyed by the secret object itself: a refreshed secret gets a new client.
  const clients = new WeakMap<RegistrySecret, RegistryClient>();
  const clientOf = (secret: RegistrySecret) => {
    let client = clients.get(secret);
    if (!client) {
      client = clientFor(secret, options);
      clients.set(secret, client);
    }
    return client;
  };

  return {
    async withRegistry(work, { rerunAfterWrite = true } = {}) {
      const secret = await options.secrets.get(options.secretId);
      let wrote = false;
      const first = rerunAfterWrite
        ? clientOf(secret)
        : watchingWrites(clientOf(secret), () => {
            wrote = true;
          });
      try {
        return await work(first);
      } catch (error) {
        if (!isCredentialRefusal(error) || wrote) throw error;
        const fresh = await options.secrets.refresh(options.secretId);
        try {
          return await work(clientOf(fresh));
        } catch (second) {
          if (!isCredentialRefusal(second)) throw second;
          throw new UnauthorizedError(
            'The registry refused the credentials from the secret, also after fetching the secret again.',
            { cause: second, registry: second.registry ?? { operation: 'withRegistry' } },
          );
        }
      }
    },
  };
}
