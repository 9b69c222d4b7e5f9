/**
 * The verify function end to end: credentials from moto's Secrets Manager, the real MLflow, the
 * report in the log and the run's metrics in EMF, through the handler wrapper.
 */
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createVerifyHandler } from '../../functions/verify/core';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { VERIFY_PROMPT_DIMENSIONS } from '../../lib/observability/metric-names';
import { createRegistryClient } from '../../lib/registry';
import { createRuntime } from '../../lib/runtime/invocation';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const registry = createRegistryClient({ trackingUri: mlflowUri });
let secretsManager: SecretsManagerClient;

beforeAll(() => {
  Object.assign(process.env, awsEnvFor(motoUri));
  secretsManager = new SecretsManagerClient({});
});

async function run(secretValue: unknown, naming: { prefix?: string | undefined }) {
  const secretId = await makeSecret(secretsManager, secretValue);
  const env = parseVerifyEnv({
    PROMPTOPS_SECRET_ID: secretId,
    PROMPT_NAME_PREFIX: naming.prefix,
    PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
  });
  const lines: Record<string, unknown>[] = [];
  const runtime = createRuntime(env, {
    functionName: 'verify',
    secretsManager,
    write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  const result = await createVerifyHandler({ env, runtime })({}, { awsRequestId: randomUUID() });
  const emf = lines.find((l) => 'VerifyRuns' in l);
  const reported = lines.find((l) => l.message === 'verify passed' || l.message === 'verify failed');
  return { result, emf, reported, lines };
}

describe('verify function', () => {
  it('logs one report and counts the run, its failures and warnings', async () => {
    const naming = uniqueNaming('verify-fn');
    const names = await registerAgentPrompts(registry, naming);
    const healthy = await run({ registry: { type: 'mlflow', trackingUri: mlflowUri } }, naming);
    expect(healthy.result.ok).toBe(true);
    expect(healthy.emf).toMatchObject({
      VerifyRuns: 1,
      VerifyFailures: 0,
      VerifyWarnings: 0,
      function: 'verify',
    });
    expect(healthy.reported).toMatchObject({
      level: 'INFO',
      message: 'verify passed',
      ok: true,
      failures: 0,
    });
    expect(healthy.reported?.checks).toHaveLength(16);

    await registry.deleteAlias(names.get('synthesizer') as string, 'production');
    const broken = await run({ registry: { type: 'mlflow', trackingUri: mlflowUri } }, naming);
    expect(broken.result.ok).toBe(false);
    expect(broken.emf).toMatchObject({ VerifyRuns: 1, VerifyFailures: 1 });
    expect(broken.reported).toMatchObject({ level: 'ERROR', message: 'verify failed', failures: 1 });
    // Per prompt and alias as well: the broken one counts its failure, the others zero.
    const perPair = broken.lines.filter((l) => 'prompt' in l && 'alias' in l && 'VerifyFailures' in l);
    expect(perPair).toHaveLength(16);
    expect(
      perPair.find((l) => l.prompt === names.get('synthesizer') && l.alias === 'production'),
    ).toMatchObject({
      VerifyFailures: 1,
      function: 'verify',
    });
    const aws = perPair[0]?._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] };
    expect(aws.CloudWatchMetrics[0]?.Dimensions[0]?.sort()).toEqual([...VERIFY_PROMPT_DIMENSIONS].sort());
    expect(broken.reported?.checks).toContainEqual(
      expect.objectContaining({
        prompt: names.get('synthesizer'),
        alias: 'production',
        code: 'ALIAS_MISSING',
      }),
    );
  });

  it('reports a registry it cannot reach as one failure, and still counts the run', async () => {
    const down = await run(
      { registry: { type: 'mlflow', trackingUri: 'http://127.0.0.1:9' } },
      uniqueNaming('verify-down'),
    );
    expect(down.result.checks).toEqual([
      expect.objectContaining({ prompt: '*', code: 'REGISTRY_UNREACHABLE' }),
    ]);
    expect(down.emf).toMatchObject({ VerifyRuns: 1, VerifyFailures: 1 });
  });
});
