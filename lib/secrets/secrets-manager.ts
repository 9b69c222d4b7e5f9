import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

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
