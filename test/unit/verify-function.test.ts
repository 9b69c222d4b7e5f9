/**
 * The verify function's handler when the registry refuses its credentials: the secret is fetched
 * again and the run done once more (a rotation), and a second refusal is one failure for the run.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { createVerifyHandler } from '../../functions/verify/core';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { createRuntime } from '../../lib/runtime/invocation';
import { mockTransport } from '../support/mock-transport';

const REGISTRY = 'http://registry.test';
const secretFor = (token: string) =>
  JSON.stringify({ registry: { type: 'mlflow', trackingUri: REGISTRY, token } });

const { sm, agent } = mockTransport();

function handler() {
  const env = parseVerifyEnv({
    PROMPTOPS_SECRET_ID: 'promptops/test/registry',
    VERIFY_ALIASES: 'production',
  });
  const lines: string[] = [];
  const runtime = createRuntime(env, {
    functionName: 'verify',
    secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
    dispatcher: agent(),
    write: (line) => lines.push(line),
  });
  return { run: () => createVerifyHandler({ env, runtime })({}, { awsRequestId: 'req-1' }), lines };
}

const search = (token: string) =>
  agent()
    .get(REGISTRY)
    .intercept({
      path: (path) => path.startsWith('/api/2.0/mlflow/registered-models/search'),
      method: 'GET',
      headers: { authorization: `Bearer ${token}` },
    });

describe('verify function: credentials refused', () => {
  it('fetches the secret again after a 401 and runs the checks with the new credentials', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: secretFor('old-token') })
      .resolves({ SecretString: secretFor('new-token') });
    search('old-token').reply(401, { error_code: 'UNAUTHENTICATED', message: 'no' });
    // The rotated credentials are accepted: the registry has none of the prompts.
    search('new-token').reply(200, { registered_models: [] });
    const { run } = handler();
    const result = await run();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(new Set(result.checks.map((c) => c.code))).toEqual(new Set(['PROMPT_MISSING']));
  });

  it('reports a second refusal once for the run, in the log and the metrics, never the token', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: secretFor('old-token') })
      .resolves({ SecretString: secretFor('still-wrong-token') });
    search('old-token').reply(401, { error_code: 'UNAUTHENTICATED', message: 'no' });
    search('still-wrong-token').reply(401, { error_code: 'UNAUTHENTICATED', message: 'no' });
    const { run, lines } = handler();
    const result = await run();
    expect(result).toEqual({
      ok: false,
      checks: [expect.objectContaining({ prompt: '*', status: 'fail', code: 'CREDENTIALS_REFUSED' })],
    });
    const reported = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(reported.find((l) => l.message === 'verify failed')).toMatchObject({ failures: 1 });
    expect(reported.find((l) => 'VerifyRuns' in l)).toMatchObject({ VerifyRuns: 1, VerifyFailures: 1 });
    expect(lines.join('\n')).not.toMatch(/old-token|still-wrong-token/);
  });
});
