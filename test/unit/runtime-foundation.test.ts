import { inspect } from 'node:util';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { commonEnvSchema, parseEnv } from '../../lib/config/env';
import {
  ConfigError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  SecretError,
  UnauthorizedError,
  UnavailableError,
} from '../../lib/errors';
import { problemResponse } from '../../lib/http/problem';
import { predictSettings, predictSettingsSchema, REQUEST_DATA } from '../../lib/predict/settings';
import { compareSequencers, selectUploads } from '../../lib/register/s3-event';
import type { RegistryClient } from '../../lib/registry';
import { createRegistryProvider } from '../../lib/runtime/registry-provider';
import { parseRegistrySecret } from '../../lib/secrets/registry-secret';
import { createSecretCache } from '../../lib/secrets/secret-cache';
import { mockTransport } from '../support/mock-transport';
import { s3Event } from '../support/s3-events';

const SECRET_TOKEN = 'tok-UNIT-SECRET-9f8e';
const secretJson = (trackingUri = 'http://registry.test', token = SECRET_TOKEN) =>
  JSON.stringify({ registry: { type: 'mlflow', trackingUri, token } });

describe('parseEnv', () => {
  it('applies defaults and parses numbers', () => {
    const env = parseEnv(commonEnvSchema, { PROMPTOPS_SECRET_ID: 'promptops/dev/registry' });
    expect(env).toMatchObject({
      PROMPTOPS_SECRET_TTL_MS: 300_000,
      PROMPTOPS_HTTP_TIMEOUT_MS: 10_000,
      POWERTOOLS_SERVICE_NAME: 'promptops',
      POWERTOOLS_METRICS_NAMESPACE: 'PromptOps',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_LOGGER_SAMPLE_RATE: 0,
    });
    expect(env.PROMPT_CATALOG).toBeUndefined();
  });

  it('names every bad variable and what was expected, without echoing values', () => {
    const attempt = () =>
      parseEnv(commonEnvSchema, { PROMPTOPS_SECRET_TTL_MS: 'hunter2', POWERTOOLS_LOG_LEVEL: 'loud' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PROMPTOPS_SECRET_ID: expected string \(it is not set\)/);
    expect(attempt).toThrow(/PROMPTOPS_SECRET_TTL_MS: expected a positive integer/);
    expect(attempt).toThrow(/POWERTOOLS_LOG_LEVEL: expected one of TRACE, DEBUG, INFO, WARN, ERROR/);
    expect(attempt).not.toThrow(/hunter2/);
  });

  it('refuses the variables Powertools replaced, naming the replacement', () => {
    const attempt = () =>
      parseEnv(commonEnvSchema, {
        PROMPTOPS_SECRET_ID: 'promptops/dev/registry',
        PROMPTOPS_LOG_LEVEL: 'DEBUG',
        PROMPTOPS_METRICS_NAMESPACE: 'Mine',
      });
    expect(attempt).toThrow(/PROMPTOPS_LOG_LEVEL: renamed: set POWERTOOLS_LOG_LEVEL instead/);
    expect(attempt).toThrow(/PROMPTOPS_METRICS_NAMESPACE: renamed: set POWERTOOLS_METRICS_NAMESPACE instead/);
  });

  it('refuses a sample rate outside 0 to 1', () => {
    const attempt = () =>
      parseEnv(commonEnvSchema, { PROMPTOPS_SECRET_ID: 'x', POWERTOOLS_LOGGER_SAMPLE_RATE: '5' });
    expect(attempt).toThrow(/POWERTOOLS_LOGGER_SAMPLE_RATE/);
  });
});

describe('predict data source', () => {
  it('is the request by default; system tables need a warehouse id, named, never echoed', () => {
    const base = { PROMPTOPS_SECRET_ID: 'promptops/dev/registry' };
    expect(predictSettings(parseEnv(predictSettingsSchema, base)).data).toEqual(REQUEST_DATA);
    const missing = () => parseEnv(predictSettingsSchema, { ...base, PREDICT_DATA_SOURCE: 'system-tables' });
    expect(missing).toThrow(
      /DATABRICKS_WAREHOUSE_ID: PREDICT_DATA_SOURCE=system-tables reads on a SQL warehouse/,
    );
    const bad = () =>
      parseEnv(predictSettingsSchema, {
        ...base,
        PREDICT_DATA_SOURCE: 'system-tables',
        DATABRICKS_WAREHOUSE_ID: "x'; DROP",
      });
    expect(bad).toThrow(/DATABRICKS_WAREHOUSE_ID: expected a SQL warehouse id/);
    expect(bad).not.toThrow(/DROP/);
    // Their time is the model's too: load, trace and data together are bounded.
    expect(() =>
      parseEnv(predictSettingsSchema, {
        ...base,
        PREDICT_DATA_SOURCE: 'system-tables',
        DATABRICKS_WAREHOUSE_ID: 'w1',
        PREDICT_DATA_TIMEOUT_MS: '15000',
      }),
    ).toThrow(/PREDICT_DATA_TIMEOUT_MS: with system-tables/);
    expect(() => parseEnv(predictSettingsSchema, { ...base, PREDICT_DATA_SOURCE: 'lake' })).toThrow(
      /PREDICT_DATA_SOURCE/,
    );
    const chosen = predictSettings(
      parseEnv(predictSettingsSchema, {
        ...base,
        PREDICT_DATA_SOURCE: 'System-Tables',
        DATABRICKS_WAREHOUSE_ID: '4b9c1e2f0a3d5e67',
        PREDICT_DATA_MAX_ROWS: '25',
      }),
    );
    expect(chosen.data).toEqual({
      source: 'system-tables',
      warehouseId: '4b9c1e2f0a3d5e67',
      maxRows: 25,
      timeoutMs: 8_000,
    });
  });
});

/** The SecretError a secret's text is refused with (undefined when it is accepted). */
function refusal(id: string, text: string): SecretError | undefined {
  try {
    parseRegistrySecret(id, text);
  } catch (error) {
    return error as SecretError;
  }
  return undefined;
}

describe('parseRegistrySecret', () => {
  it('accepts the documented shapes', () => {
    expect(parseRegistrySecret('s', secretJson()).registry).toMatchObject({
      type: 'mlflow',
      token: SECRET_TOKEN,
    });
    const databricks = JSON.stringify({
      registry: { type: 'databricks', host: 'https://adb.example.net', clientId: 'id', clientSecret: 'cs' },
      model: { baseUrl: 'https://llm.example.net/v1', name: 'gpt-4o-mini', apiKey: 'k' },
    });
    expect(parseRegistrySecret('s', databricks).model).toEqual({
      baseUrl: 'https://llm.example.net/v1',
      name: 'gpt-4o-mini',
      apiKey: 'k',
    });
  });

  it('names the secret and the field, never a value', () => {
    const bad = JSON.stringify({
      registry: { type: 'mlflow', trackingUri: SECRET_TOKEN, username: 'u' },
      [SECRET_TOKEN]: 1,
    });
    const error = refusal('promptops/dev/registry', bad);
    expect(error).toBeInstanceOf(SecretError);
    expect(error?.message).toContain("Secret 'promptops/dev/registry' has the wrong shape");
    expect(error?.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['registry.trackingUri', 'registry.username']),
    );
    expect(
      JSON.stringify({ message: error?.message, issues: error?.issues, cause: error?.cause }),
    ).not.toContain(SECRET_TOKEN.slice(4));
  });

  it('refuses a Databricks registry with both a token and client credentials, naming the fields only', () => {
    const both = JSON.stringify({
      registry: {
        type: 'databricks',
        host: 'https://adb.example.net',
        token: SECRET_TOKEN,
        clientId: 'id',
        clientSecret: 'cs',
      },
    });
    const error = refusal('s', both);
    expect(error).toBeInstanceOf(SecretError);
    expect(error?.issues).toEqual([
      expect.objectContaining({
        path: 'registry.token',
        message: 'set a token, or clientId and clientSecret, not both',
      }),
    ]);
    expect(JSON.stringify({ message: error?.message, issues: error?.issues })).not.toContain(
      SECRET_TOKEN.slice(4),
    );
  });

  it('takes a Databricks host over https only (plain http on loopback, for tests)', () => {
    const secret = (host: string) =>
      JSON.stringify({ registry: { type: 'databricks', host, token: SECRET_TOKEN } });
    expect(refusal('s', secret('http://adb.example.net'))?.issues).toEqual([
      expect.objectContaining({ path: 'registry.host', message: 'expected an https URL' }),
    ]);
    expect(refusal('s', secret('http://127.0.0.1:8080'))).toBeUndefined();
  });

  it('takes a Databricks serving endpoint as the model, with a Databricks registry only', () => {
    const serving = (registry: object) =>
      JSON.stringify({ registry, model: { servingEndpoint: 'databricks-claude' } });
    const databricks = { type: 'databricks', host: 'https://adb.example.net', token: SECRET_TOKEN };
    expect(parseRegistrySecret('s', serving(databricks)).model).toEqual({
      servingEndpoint: 'databricks-claude',
    });
    const error = refusal('s', serving({ type: 'mlflow', trackingUri: 'https://mlflow.example.net' }));
    expect(error?.issues).toEqual([
      expect.objectContaining({
        path: 'model.servingEndpoint',
        message: expect.stringMatching(/needs a 'databricks' registry/),
      }),
    ]);
    const mixed = refusal(
      's',
      JSON.stringify({
        registry: databricks,
        model: { servingEndpoint: 'x', baseUrl: 'https://a.example.net' },
      }),
    );
    expect(mixed?.message).toMatch(/model/);
    expect(JSON.stringify({ message: mixed?.message, issues: mixed?.issues })).not.toContain(
      SECRET_TOKEN.slice(4),
    );
  });

  it('refuses JSON errors without quoting the input', () => {
    expect(() => parseRegistrySecret('s', `{"token": "${SECRET_TOKEN}"`)).toThrow(/not valid JSON/);
    try {
      parseRegistrySecret('s', `{"token": "${SECRET_TOKEN}"`);
    } catch (error) {
      expect((error as Error).cause).toBeUndefined();
      expect(String((error as Error).message)).not.toContain(SECRET_TOKEN);
    }
    expect.assertions(3);
  });
});

describe('secret cache', () => {
  const sm = mockClient(SecretsManagerClient);
  let clock = 0;
  beforeEach(() => {
    sm.reset();
    clock = 0;
  });

  const cache = () =>
    createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 1000, now: () => clock });

  it('fetches once for concurrent readers and reuses the value within the TTL', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: secretJson() });
    const secrets = cache();
    await Promise.all([secrets.get('a'), secrets.get('a'), secrets.get('a')]);
    clock = 999;
    await secrets.get('a');
    expect(secrets.fetchCount).toBe(1);
    clock = 1000;
    await secrets.get('a');
    expect(secrets.fetchCount).toBe(2);
  });

  it('does not cache a failure', async () => {
    sm.on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('boom'), { name: 'InternalServiceError' }))
      .resolves({ SecretString: secretJson() });
    const secrets = cache();
    await expect(secrets.get('a')).rejects.toBeInstanceOf(UnavailableError);
    await expect(secrets.get('a')).resolves.toMatchObject({ registry: { type: 'mlflow' } });
  });

  it('reports a missing secret by id', async () => {
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('nope'), { name: 'ResourceNotFoundException' }),
    );
    await expect(cache().get('promptops/x')).rejects.toThrow("Secret 'promptops/x' does not exist.");
  });

  it('refresh fetches anew even within the TTL', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: secretJson() });
    const secrets = cache();
    await secrets.get('a');
    await secrets.refresh('a');
    expect(secrets.fetchCount).toBe(2);
  });
});

describe('registry provider: credential rotation', () => {
  const { sm, agent } = mockTransport();

  const modelVersion = {
    name: 'p',
    version: '1',
    tags: [
      { key: 'mlflow.prompt.is_prompt', value: 'true' },
      { key: 'mlflow.prompt.text', value: 'x' },
    ],
  };

  it('fetches the secret again after a 401 and retries once with the new credentials', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: secretJson('http://registry.test', 'old-token') })
      .resolves({ SecretString: secretJson('http://registry.test', 'new-token') });
    const pool = agent().get('http://registry.test');
    pool
      .intercept({ path: /alias/, method: 'GET', headers: { authorization: 'Bearer old-token' } })
      .reply(401, 'no');
    pool
      .intercept({ path: /alias/, method: 'GET', headers: { authorization: 'Bearer new-token' } })
      .reply(200, { model_version: modelVersion });
    const secrets = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 60_000 });
    const provider = createRegistryProvider({ secrets, secretId: 's', dispatcher: agent() });
    await expect(provider.withRegistry((r) => r.resolveAlias('p', 'production'))).resolves.toMatchObject({
      version: 1,
    });
    expect(secrets.fetchCount).toBe(2);
  });

  it('gives up with UnauthorizedError when the fresh secret is refused too, still an upstream failure', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: secretJson() });
    agent().get('http://registry.test').intercept({ path: /alias/, method: 'GET' }).reply(401, 'no').times(2);
    const secrets = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 60_000 });
    const provider = createRegistryProvider({ secrets, secretId: 's', dispatcher: agent() });
    const error = await provider
      .withRegistry((r) => r.resolveAlias('p', 'production'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error).toMatchObject({
      code: 'UNAUTHORIZED',
      registry: { operation: 'resolveAlias', httpStatus: 401 },
    });
    expect((error as Error).message).toMatch(/also after fetching the secret again/);
    expect(secrets.fetchCount).toBe(2);
    // The registry refusing our credentials is never the API caller's 401.
    expect(problemResponse(error).statusCode).toBe(502);
    expect(inspect(error, { showHidden: true, depth: null })).not.toContain(SECRET_TOKEN);
  });

  it('treats a 403 as that call failing, without fetching the secret again', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: secretJson() });
    agent()
      .get('http://registry.test')
      .intercept({ path: /alias/, method: 'GET' })
      .reply(403, 'Permission denied');
    const secrets = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 60_000 });
    const provider = createRegistryProvider({ secrets, secretId: 's', dispatcher: agent() });
    await expect(provider.withRegistry((r) => r.resolveAlias('p', 'production'))).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    expect(secrets.fetchCount).toBe(1);
  });

  it('does not run a move again once it wrote (rerunAfterWrite: false), but does before any write', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: secretJson() });
    const pool = agent().get('http://registry.test');
    pool.intercept({ path: /alias/, method: 'POST' }).reply(200, {});
    pool.intercept({ path: /set-tag/, method: 'POST' }).reply(401, 'rotated');
    const secrets = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 60_000 });
    const provider = createRegistryProvider({ secrets, secretId: 's', dispatcher: agent() });
    let runs = 0;
    const move = async (r: RegistryClient) => {
      runs += 1;
      await r.setAlias('p', 'production', 2);
      await r.setPromptTag('p', 'promptops.alias_history.production', '[]');
    };
    const error = await provider.withRegistry(move, { rerunAfterWrite: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(runs).toBe(1);
    expect(secrets.fetchCount).toBe(1);

    // A refusal before the first write is a rotated secret like any other: fetched again, run again.
    pool.intercept({ path: /alias/, method: 'GET' }).reply(401, 'rotated');
    pool.intercept({ path: /alias/, method: 'GET' }).reply(200, { model_version: modelVersion });
    await expect(
      provider.withRegistry((r) => r.resolveAlias('p', 'production'), { rerunAfterWrite: false }),
    ).resolves.toMatchObject({ version: 1 });
    expect(secrets.fetchCount).toBe(2);
  });

  it('does not refetch on other errors', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: secretJson() });
    agent()
      .get('http://registry.test')
      .intercept({ path: /alias/, method: 'GET' })
      .reply(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'x' });
    const secrets = createSecretCache({ client: new SecretsManagerClient({}), ttlMs: 60_000 });
    const provider = createRegistryProvider({ secrets, secretId: 's', dispatcher: agent() });
    await expect(provider.withRegistry((r) => r.resolveAlias('p', 'latest'))).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(secrets.fetchCount).toBe(1);
  });
});

describe('problem details', () => {
  const body = (error: unknown) => JSON.parse(problemResponse(error, 'req-1').body);

  it('answers a caller error with its status, code, message and field list', () => {
    const response = problemResponse(
      new InvalidInputError('bad body', { issues: [{ path: 'to', message: 'reserved' }] }),
      'req-1',
    );
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(response.body)).toEqual({
      type: 'urn:promptops:problem:invalid-input',
      title: 'Bad Request',
      status: 400,
      detail: 'bad body',
      code: 'INVALID_INPUT',
      requestId: 'req-1',
      errors: [{ path: 'to', message: 'reserved' }],
    });
  });

  it('never presents the registry refusing our credentials as the caller being unauthorized', () => {
    const upstream = new UnauthorizedError(`resolveAlias: token ${SECRET_TOKEN} refused`, {
      registry: { operation: 'resolveAlias', httpStatus: 401 },
    });
    const response = problemResponse(upstream, 'req-1');
    expect(response.statusCode).toBe(502);
    expect(response.body).not.toContain(SECRET_TOKEN);
    expect(body(upstream)).toMatchObject({
      code: 'INTERNAL',
      detail: 'An internal error occurred; it has been logged.',
    });
    expect(problemResponse(new UnauthorizedError('no principal')).statusCode).toBe(401);
  });

  it('never names the hidden upstream code in a 5xx body, and passes Retry-After on a 503', () => {
    const refused = body(new UnauthorizedError('x', { registry: { operation: 'op', httpStatus: 401 } }));
    expect(refused).toMatchObject({ status: 502, code: 'INTERNAL', type: 'urn:promptops:problem:internal' });
    const throttled = problemResponse(
      new RateLimitedError('slow down', {
        registry: { operation: 'op', httpStatus: 429 },
        retryAfterMs: 4000,
      }),
    );
    expect(throttled.statusCode).toBe(503);
    expect(JSON.parse(throttled.body)).toMatchObject({
      code: 'UNAVAILABLE',
      type: 'urn:promptops:problem:unavailable',
    });
    expect(throttled.headers['retry-after']).toBe('4');
    const down = problemResponse(new UnavailableError('down', { retryAfterMs: 1500 }));
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBe('2');
  });

  it('answers unexpected errors with a generic 500 and an unavailable registry with 503 and Retry-After', () => {
    expect(body(new TypeError('x is undefined at /var/task/index.mjs'))).toMatchObject({
      status: 500,
      code: 'INTERNAL',
    });
    expect(JSON.stringify(body(new TypeError('x is undefined at /var/task')))).not.toContain('/var/task');
    const limited = problemResponse(new RateLimitedError('slow', { retryAfterMs: 2500 }));
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('3');
    expect(body(new UnavailableError('down at 10.0.0.1'))).toMatchObject({
      status: 503,
      code: 'UNAVAILABLE',
    });
    expect(JSON.stringify(body(new UnavailableError('down at 10.0.0.1')))).not.toContain('10.0.0.1');
  });
});

describe('S3 event selection', () => {
  const scope = { bucket: 'b', prefix: 'prompts/', suffix: '.md' };

  it('compares sequencers right-aligned', () => {
    expect(compareSequencers('0A', 'A')).toBe(0);
    expect(compareSequencers('0055AED6DCD90281E5', '0055AED6DCD90281E6')).toBe(-1);
    expect(compareSequencers('FF', '0100')).toBe(-1);
  });

  it('keeps the newest record per key, decodes keys and explains what it ignores', () => {
    const { uploads, ignored } = selectUploads(
      s3Event([
        { bucket: 'b', key: 'prompts/a b.md', sequencer: '02' },
        { bucket: 'b', key: 'prompts/a b.md', sequencer: '01' },
        { bucket: 'b', key: 'prompts/c.md', eventName: 'ObjectRemoved:Delete' },
        { bucket: 'other', key: 'prompts/d.md' },
        { bucket: 'b', key: 'docs/e.md' },
        { bucket: 'b', key: 'prompts/team/f.md' },
      ]),
      scope,
    );
    expect(uploads).toEqual([
      { bucket: 'b', key: 'prompts/a b.md', principalId: 'AWS:AIDAEXAMPLE', sequencer: '02' },
    ]);
    expect(ignored.map((i) => i.reason)).toEqual([
      'event ObjectRemoved:Delete is not an upload',
      'bucket other is not the prompts bucket',
      'key is outside prompts/*.md',
      'key is in a folder under prompts/; prompt files must be directly under it',
    ]);
  });

  it('refuses an event that is not an S3 notification, naming what is wrong', () => {
    expect(() => selectUploads({ records: [] }, scope)).toThrow(/not an S3 notification event: Records/);
    expect(() => selectUploads('x', scope)).toThrow(InvalidInputError);
  });

  it('refuses a malformed record or key alone, registering the good records beside it', () => {
    const good = {
      eventName: 'ObjectCreated:Put',
      s3: { bucket: { name: 'b' }, object: { key: 'prompts/ok.md' } },
    };
    const { uploads, ignored } = selectUploads(
      {
        Records: [
          { eventName: 'x' },
          { ...good, s3: { ...good.s3, object: { key: 'prompts/bad%ZZ.md' } } },
          good,
        ],
      },
      scope,
    );
    expect(uploads.map((u) => u.key)).toEqual(['prompts/ok.md']);
    expect(ignored).toEqual([
      expect.objectContaining({
        malformed: true,
        reason: expect.stringMatching(/^record 0 is not an S3 record: s3/),
      }),
      expect.objectContaining({
        malformed: true,
        key: 'prompts/bad%ZZ.md',
        reason: 'key is not valid URL encoding',
      }),
    ]);
  });
});
