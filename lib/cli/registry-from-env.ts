import { createRegistryClient, type RegistryClient } from '../registry';
import { authFromEnv } from '../registry/auth';
import { UsageError } from './io';

/** The registry a CLI command talks to: `--tracking-uri` or MLFLOW_TRACKING_URI, auth from the env. */
export function registryFromEnv(env: NodeJS.ProcessEnv, trackingUri: string | undefined): RegistryClient {
  const uri = trackingUri ?? env.MLFLOW_TRACKING_URI;
  if (!uri) {
    throw new UsageError(
      'No registry: set MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000) or pass --tracking-uri.',
    );
  }
  const timeout = env.PROMPTOPS_HTTP_TIMEOUT_MS ? Number(env.PROMPTOPS_HTTP_TIMEOUT_MS) : undefined;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
    throw new UsageError('PROMPTOPS_HTTP_TIMEOUT_MS must be a positive integer (milliseconds).');
  }
  return createRegistryClient({ trackingUri: uri, auth: authFromEnv(env), timeoutMs: timeout });
}
