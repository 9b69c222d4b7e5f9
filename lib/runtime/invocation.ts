/**
 * What every function shares at cold start: configuration parsed once, the secret cache and the
 * registry provider, Powertools' logger and metrics. Built by a factory from its dependencies so
 * tests pass fakes (a Secrets Manager double, a dispatcher, a sink for the output lines).
 */

import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Dispatcher } from 'undici';
import type { CommonEnv } from '../config/env';
import type { LineSink } from '../observability/console-sink';
import { createPowertoolsLogger, type Logger, loggerOver } from '../observability/logger';
import { createPowertoolsMetrics } from '../observability/metrics';
import type { NamingOptions } from '../prompts/naming';
import { createSecretCache, type SecretCache } from '../secrets/secret-cache';
import { boundedSecretsManager } from '../secrets/secrets-manager';
import { createRegistryProvider, type RegistryProvider } from './registry-provider';

/** The Powertools instances the handler wrapper drives (context, sampling, flush). */
export interface Instruments {
  readonly logger: PowertoolsLogger;
  readonly metrics: PowertoolsMetrics;
}

export interface Runtime {
  readonly env: CommonEnv;
  readonly naming: NamingOptions;
  readonly secrets: SecretCache;
  readonly registry: RegistryProvider;
  readonly logger: Logger;
  readonly instruments: Instruments;
}

export interface RuntimeDeps {
  readonly functionName: string;
  readonly secretsManager?: Pick<SecretsManagerClient, 'send'> | undefined;
  readonly dispatcher?: Dispatcher | undefined;
  /** Where log and metric lines go instead of stdout (tests, the local runs). */
  readonly write?: LineSink | undefined;
  readonly now?: (() => number) | undefined;
}

export function createRuntime(env: CommonEnv, deps: RuntimeDeps): Runtime {
  const secrets = createSecretCache({
    client: deps.secretsManager ?? boundedSecretsManager(),
    ttlMs: env.PROMPTOPS_SECRET_TTL_MS,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const logger = createPowertoolsLogger({
    service: env.POWERTOOLS_SERVICE_NAME,
    level: env.POWERTOOLS_LOG_LEVEL,
    sampleRate: env.POWERTOOLS_LOGGER_SAMPLE_RATE,
    write: deps.write,
  });
  const instruments: Instruments = {
    logger,
    metrics: createPowertoolsMetrics({
      logger,
      namespace: env.POWERTOOLS_METRICS_NAMESPACE,
      service: env.POWERTOOLS_SERVICE_NAME,
      functionName: deps.functionName,
      write: deps.write,
    }),
  };
  return {
    env,
    naming: { catalog: env.PROMPT_CATALOG, schema: env.PROMPT_SCHEMA, prefix: env.PROMPT_NAME_PREFIX },
    secrets,
    registry: createRegistryProvider({
      secrets,
      secretId: env.PROMPTOPS_SECRET_ID,
      timeoutMs: env.PROMPTOPS_HTTP_TIMEOUT_MS,
      dispatcher: deps.dispatcher,
      catalog: env.PROMPT_CATALOG,
      schema: env.PROMPT_SCHEMA,
    }),
    logger: loggerOver(instruments.logger, { function: deps.functionName }),
    instruments,
  };
}
