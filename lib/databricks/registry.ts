/**
 * The registry client for a Databricks workspace: Unity Catalog's prompt API (the UC dialect) at
 * the workspace's host, with its credentials renewed as they expire or are refused.
 */
import { createRegistryClient, type RegistryClient, type RegistryClientOptions } from '../registry';
import { createUcDialect, type UcDialectOptions } from '../registry/dialects/uc';
import type { DatabricksCredentials } from './credentials';

export interface DatabricksRegistryOptions
  extends UcDialectOptions,
    Omit<RegistryClientOptions, 'trackingUri' | 'auth' | 'credentials' | 'dialect'> {
  readonly credentials: DatabricksCredentials;
  /** Another address for the workspace's API than its host (a proxy, in tests). */
  readonly apiUrl?: string | undefined;
}

export function createDatabricksRegistryClient(options: DatabricksRegistryOptions): RegistryClient {
  const { credentials, apiUrl, catalog, schema, ...transport } = options;
  return createRegistryClient({
    ...transport,
    trackingUri: apiUrl ?? credentials.host,
    credentials,
    dialect: (http) => createUcDialect(http, { catalog, schema }),
  });
}
