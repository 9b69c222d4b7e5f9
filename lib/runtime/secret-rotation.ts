/**
 * A service principal's client secret rotated under a warm function: the token endpoint refuses
 * the one cached, the secret is read again once, and the work runs once more with what the new
 * value builds. Used where a client other than the registry's holds the workspace credentials
 * (the serving endpoint, the SQL warehouse); the registry provider re-reads on any refusal of its
 * own (registry-provider.ts).
 */
import { OAUTH_TOKEN_OPERATION } from '../databricks/credentials';
import { UnauthorizedError } from '../errors';
import type { RegistrySecret } from '../secrets/registry-secret';
import type { SecretCache } from '../secrets/secret-cache';

/** The token endpoint refused the client secret the cached secret holds: it may have been rotated. */
export function isClientSecretRefusal(error: unknown): boolean {
  return error instanceof UnauthorizedError && error.registry?.operation === OAUTH_TOKEN_OPERATION;
}

/** `work(current)`; on a refused client secret, `work` once more with what the re-read secret builds. */
export async function withRotatedSecret<C, T>(
  source: { readonly secrets: SecretCache; readonly secretId: string },
  current: C,
  build: (secret: RegistrySecret) => C,
  work: (client: C) => Promise<T>,
): Promise<T> {
  try {
    return await work(current);
  } catch (error) {
    if (!isClientSecretRefusal(error)) throw error;
    return work(build(await source.secrets.refresh(source.secretId)));
  }
}
