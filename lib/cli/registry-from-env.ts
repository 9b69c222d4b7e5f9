import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { parseEnv } from '../config/env';
import { databricksSettings } from '../databricks/config';
import { type DatabricksCredentials, m2mCredentials, patCredentials } from '../databricks/credentials';
import { createDatabricksRegistryClient } from '../databricks/registry';
import { ConfigError } from '../errors';
import { createRegistryClient, type RegistryClient } from '../registry';
import { authFromEnv } from '../registry/auth';
import {
  type ExperimentRef,
  experimentEnvShape,
  experimentRef,
  oneExperiment,
} from '../registry/experiments';
import { createRegistryProvider, type RegistryProvider } from '../runtime/registry-provider';
import { createSecretCache } from '../secrets/secret-cache';
import { UsageError } from './io';

/** PROMPTOPS_HTTP_TIMEOUT_MS, checked. */
export function httpTimeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const timeout = env.PROMPTOPS_HTTP_TIMEOUT_MS ? Number(env.PROMPTOPS_HTTP_TIMEOUT_MS) : undefined;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
    throw new UsageError('PROMPTOPS_HTTP_TIMEOUT_MS must be a positive integer (milliseconds).');
  }
  return timeout;
}

/**
 * Whether the registry is Unity Catalog, chosen as MLflow chooses: MLFLOW_REGISTRY_URI
 * `databricks-uc` (or `databricks-uc://<profile>`), or a tracking URI `databricks` /
 * `databricks://<profile>`, which defaults the registry to Unity Catalog. The profile, if named,
 * is the `~/.databrickscfg` profile to read.
 */
export function databricksTarget(
  env: NodeJS.ProcessEnv,
  trackingUri: string | undefined,
): { readonly profile: string | undefined } | undefined {
  const registryUri = env.MLFLOW_REGISTRY_URI?.trim();
  const uri = (trackingUri ?? env.MLFLOW_TRACKING_URI)?.trim();
  const match = (value: string | undefined, scheme: string) =>
    value === undefined ? undefined : new RegExp(`^${scheme}(?:://(.*))?$`).exec(value);
  const byRegistry = match(registryUri, 'databricks-uc');
  if (registryUri && !byRegistry && registryUri !== uri) {
    throw new UsageError(
      `MLFLOW_REGISTRY_URI '${registryUri}' is not supported: use databricks-uc, or leave it unset to use the tracking server.`,
    );
  }
  const byTracking = registryUri ? undefined : match(uri, 'databricks');
  const found = byRegistry ?? byTracking;
  if (!found) return undefined;
  return { profile: found[1]?.trim() || undefined };
}

/** One credentials object per workspace identity in this process: the registry and the model share a token. */
const credentialsMemo = new Map<string, DatabricksCredentials>();

/**
 * The Databricks credentials the environment names when the registry is Unity Catalog
 * (databricksTarget), else undefined: the DATABRICKS_* variables, then the profile.
 */
export function databricksCredentialsFromEnv(
  env: NodeJS.ProcessEnv,
  trackingUri: string | undefined,
): DatabricksCredentials | undefined {
  const target = databricksTarget(env, trackingUri);
  if (!target) return undefined;
  let settings: ReturnType<typeof databricksSettings>;
  try {
    settings = databricksSettings(
      target.profile ? { ...env, DATABRICKS_CONFIG_PROFILE: target.profile } : env,
    );
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  const auth = settings.auth;
  const key = JSON.stringify([settings.host, auth]);
  let credentials = credentialsMemo.get(key);
  if (!credentials) {
    credentials =
      auth.kind === 'pat'
        ? patCredentials(settings.host, auth.token)
        : m2mCredentials({ host: settings.host, clientId: auth.clientId, clientSecret: auth.clientSecret });
    credentialsMemo.set(key, credentials);
  }
  return credentials;
}

/** The registry a CLI command talks to: `--tracking-uri` or MLFLOW_TRACKING_URI, auth from the env. */
export function registryFromEnv(env: NodeJS.ProcessEnv, trackingUri: string | undefined): RegistryClient {
  const credentials = databricksCredentialsFromEnv(env, trackingUri);
  if (credentials) {
    return createDatabricksRegistryClient({
      credentials,
      catalog: env.PROMPT_CATALOG || undefined,
      schema: env.PROMPT_SCHEMA || undefined,
      timeoutMs: httpTimeoutFromEnv(env),
    });
  }
  const uri = trackingUri ?? env.MLFLOW_TRACKING_URI;
  if (!uri) {
    throw new UsageError(
      'No registry: set MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000, or databricks) or pass --tracking-uri.',
    );
  }
  return createRegistryClient({
    trackingUri: uri,
    auth: authFromEnv(env),
    timeoutMs: httpTimeoutFromEnv(env),
  });
}

export interface RegistrySourceOptions {
  readonly trackingUri?: string | undefined;
  /** Read the registry's location and credentials from this Secrets Manager secret instead. */
  readonly secretId?: string | undefined;
}

export interface CliRegistry extends RegistryProvider {
  /** Releases the Secrets Manager client's connections, when there is one. */
  close(): void;
}

/**
 * The registry for commands that may also take it from a secret, as the deployed functions do:
 * the same secret cache and provider, so a refused credential is fetched again once. The AWS SDK
 * takes the region, endpoint and credentials from the process environment, as it does in Lambda.
 */
export function cliRegistryFromEnv(env: NodeJS.ProcessEnv, options: RegistrySourceOptions): CliRegistry {
  if (options.secretId === undefined) {
    if (!options.trackingUri && !env.MLFLOW_TRACKING_URI && !env.MLFLOW_REGISTRY_URI) {
      throw new UsageError(
        'No registry: set MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000), or pass --tracking-uri or --secret-id.',
      );
    }
    const registry = registryFromEnv(env, options.trackingUri);
    return { withRegistry: (work) => work(registry), close: () => {} };
  }
  if (options.trackingUri !== undefined) {
    throw new UsageError('Pass either --tracking-uri or --secret-id, not both.');
  }
  if (options.secretId.trim() === '') throw new UsageError('--secret-id expects a secret id or ARN.');
  const client = new SecretsManagerClient({});
  // One command is one short process: the secret is read once and kept for its duration.
  const secrets = createSecretCache({ client, ttlMs: Number.POSITIVE_INFINITY });
  const provider = createRegistryProvider({
    secrets,
    secretId: options.secretId,
    timeoutMs: httpTimeoutFromEnv(env),
  });
  return {
    withRegistry: (work, options) => provider.withRegistry(work, options),
    close: () => client.destroy(),
  };
}

/** The experiment from MLFLOW_EXPERIMENT_ID or MLFLOW_EXPERIMENT_NAME (default `0`), checked. */
export function experimentFromEnv(env: NodeJS.ProcessEnv): ExperimentRef {
  try {
    return experimentRef(parseEnv(z.object(experimentEnvShape).superRefine(oneExperiment), env));
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}
