/**
 * What every function shares at cold start: configuration parsed once, the secret cache and the
 * registry provider, the logger. Built by a factory from its dependencies so tests pass fakes.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Dispatcher } from 'undici';
import type { CommonEnv } from '../config/env';
import { createLogger, type Logger } from '../observability/logger';
import { createMetrics, type Metrics } from '../observability/metrics';
import type { NamingOptions } from '../prompts/naming';
import { createSecretCache, type SecretCache } from '../secrets/secret-cache';
import { createRegistryProvider, type RegistryProvider } from './registry-provider';

export const SERVICE = 'promptops';

/**
 * Secrets Manager, bounded: the SDK's default waits without limit for an answer, which a
 * function serving requests cannot afford (its callers have deadlines; a hung read outlives them).
 */
export function boundedSecretsManager(): SecretsManagerClient {
  return new SecretsManagerClient({
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
  });
}

export interface Runtime {
  readonly env: CommonEnv;
  readonly naming: NamingOptions;
  readonly secrets: SecretCache;
  readonly registry: RegistryProvider;
  readonly logger: Logger;
  /** Metrics are per invocation: created, added to, flushed at its end. */
  metrics(): Metrics;
}

export interface RuntimeDeps {
  readonly functionName: string;
  readonly secretsManager?: Pick<SecretsManagerClient, 'send'> | undefined;
  readonly dispatcher?: Dispatcher | undefined;
  readonly write?: ((line: string) => void) | undefined;
  readonly now?: (() => number) | undefined;
}

export function createRuntime(env: CommonEnv, deps: RuntimeDeps): Runtime {
  const secrets = createSecretCache({
    client: deps.secretsManager ?? boundedSecretsManager(),
    ttlMs: env.PROMPTOPS_SECRET_TTL_MS,
    ...(deps.now ? { now: deps.now } : {}),
  });
  return {
    env,
    naming: { catalog: env.PROMPT_CATALOG, schema: env.PROMPT_SCHEMA, prefix: env.PROMPT_NAME_PREFIX },
    secrets,
    registry: createRegistryProvider({
      secrets,
      secretId: env.PROMPTOPS_SECRET_ID,
      timeoutMs: env.PROMPTOPS_HTTP_TIMEOUT_MS,
      dispatcher: deps.dispatcher,
    }),
    logger: createLogger(
      { service: SERVICE, level: env.PROMPTOPS_LOG_LEVEL, write: deps.write },
      { function: deps.functionName },
    ),
    metrics: () =>
      createMetrics({
        namespace: env.PROMPTOPS_METRICS_NAMESPACE,
        service: SERVICE,
        functionName: deps.functionName,
        write: deps.write,
        now: deps.now,
      }),
  };
}
