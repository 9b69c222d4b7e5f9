/**
 * Why the secret cache is ours and not Powertools Parameters' SecretsProvider: both refresh on
 * demand (the re-read after a 401), but only ours shares one read among concurrent readers and
 * checks the secret's shape. Both run here on the same Secrets Manager double; bench/bundles.ts
 * measures their cost (the same: the SDK client is most of it).
 */

import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SecretError } from '../../lib/errors';
import { createSecretCache } from '../../lib/secrets/secret-cache';

const SECRET = JSON.stringify({
  registry: { type: 'mlflow', trackingUri: 'http://registry.test', token: 't' },
});
const sm = mockClient(SecretsManagerClient);

beforeEach(() => {
  sm.reset();
  sm.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
});

const calls = () => sm.commandCalls(GetSecretValueCommand).length;

describe('the secret cache, beside Powertools SecretsProvider', () => {
  it('both force a fresh read when asked (the refresh after a 401)', async () => {
    const ours = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 300_000 });
    await ours.get('s');
    await ours.refresh('s');
    expect(calls()).toBe(2);

    sm.resetHistory();
    const provider = new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({}) });
    await provider.get('s', { maxAge: 300 });
    await provider.get('s', { maxAge: 300, forceFetch: true });
    expect(calls()).toBe(2);
  });

  it('ours reads once for concurrent readers; SecretsProvider reads once per reader', async () => {
    // Predict's registry and model readers overlap on a cold start with a slow Secrets Manager.
    const ours = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 300_000 });
    await Promise.all([ours.get('s'), ours.get('s')]);
    expect(calls()).toBe(1);

    sm.resetHistory();
    const provider = new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({}) });
    await Promise.all([provider.get('s', { maxAge: 300 }), provider.get('s', { maxAge: 300 })]);
    expect(calls()).toBe(2);
  });

  it('ours checks the shape once per read and says which field is wrong; SecretsProvider hands back any JSON', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"registry":{"type":"mlflow"}}' });
    const ours = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 300_000 });
    await expect(ours.get('s')).rejects.toBeInstanceOf(SecretError);
    await expect(ours.get('s')).rejects.toThrow(/registry\.trackingUri/);

    const provider = new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({}) });
    await expect(provider.get('s', { transform: 'json' })).resolves.toEqual({ registry: { type: 'mlflow' } });
  });
});
