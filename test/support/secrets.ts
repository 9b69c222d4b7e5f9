import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** A new secret holding `value` as JSON, under a name no other test uses; its name. */
export async function makeSecret(
  client: Pick<SecretsManagerClient, 'send'>,
  value: unknown,
): Promise<string> {
  const name = `promptops/it/${randomUUID()}`;
  await client.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }));
  return name;
}
