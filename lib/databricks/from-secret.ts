/**
 * The Databricks credentials of a secret, one instance per secret value: the registry client and
 * the serving endpoint's model client share it, so a service principal asks for one OAuth token
 * for both, and a rotated secret (a new value) starts afresh.
 */
import type { Dispatcher } from 'undici';
import type { DatabricksRegistrySecret } from '../secrets/registry-secret';
import { type DatabricksCredentials, m2mCredentials, patCredentials } from './credentials';

const bySecret = new WeakMap<DatabricksRegistrySecret, DatabricksCredentials>();

export function credentialsOfSecret(
  registry: DatabricksRegistrySecret,
  options: { readonly dispatcher?: Dispatcher | undefined; readonly timeoutMs?: number | undefined } = {},
): DatabricksCredentials {
  let credentials = bySecret.get(registry);
  if (!credentials) {
    // The schema guarantees one of the two (registry-secret.ts).
    credentials =
      registry.token !== undefined
        ? patCredentials(registry.host, registry.token)
        : m2mCredentials({
            host: registry.host,
            clientId: registry.clientId as string,
            clientSecret: registry.clientSecret as string,
            ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
            ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          });
    bySecret.set(registry, credentials);
  }
  return credentials;
}
