import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AWS_CLIENT_BOUNDS } from '../runtime/aws-bounds';

/**
 * Secrets Manager, bounded: the SDK's default waits without limit for an answer, which a
 * function serving requests cannot afford (its callers have deadlines; a hung read outlives them).
 */
export function boundedSecretsManager(): SecretsManagerClient {
  return new SecretsManagerClient(AWS_CLIENT_BOUNDS);
}
