/**
 * The Databricks transports at the HTTP seam (undici's MockAgent): the registry's renewed
 * credentials (a 401 re-sends once with a new token, a refused token never reaches a message), the
 * trace data upload (only to where the workspace sent it, over TLS when the workspace is), and the
 * SQL statements' time bound taken from the invocation's deadline.
 */
import { describe, expect, it } from 'vitest';
import { createStatementRunner } from '../../lib/databricks/sql-statements';
import {
  DeadlineExceededError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedError,
} from '../../lib/errors';
import { createHttpClient } from '../../lib/registry/http';
import { createTracking } from '../../lib/registry/tracking';
import { secretStatementRunner } from '../../lib/runtime/data-provider';
import { deadlineIn, withDeadline } from '../../lib/runtime/deadline';
import { createModelProvider } from '../../lib/runtime/model-provider';
import type { RegistrySecret } from '../../lib/secrets/registry-secret';
import type { SecretCache } from '../../lib/secrets/secret-cache';
import { mockTransport } from '../support/mock-transport';

const HOST = 'https://adb-1.example.net';
const transport = mockTransport();
const agent = () => transport.agent();

/** Credentials handing out numbered tokens; `refused` drops the current one. */
function renewing() {
  let n = 1;
  const seen: string[] = [];
  return {
    seen,
    authorization: async () => `Bearer tok-secret-${n}`,
    refused: (header: string) => {
      seen.push(header);
      if (header === `Bearer tok-secret-${n}`) n += 1;
    },
  };
}

const http = (credentials = renewing()) =>
  createHttpClient({ trackingUri: HOST, credentials, dispatcher: agent(), retry: { maxAttempts: 1 } });

describe('renewed credentials', () => {
  it('re-sends once with a new token after a 401, and only once', async () => {
    const credentials = renewing();
    const pool = agent().get(HOST);
    pool
      .intercept({ path: '/api/2.0/x', method: 'GET', headers: { authorization: 'Bearer tok-secret-1' } })
      .reply(401, { error_code: 'UNAUTHENTICATED', message: 'Invalid access token tok-secret-1' });
    pool
      .intercept({ path: '/api/2.0/x', method: 'GET', headers: { authorization: 'Bearer tok-secret-2' } })
      .reply(200, { ok: true });
    const client = http(credentials);
    await expect(
      client.call({ operation: 'x', method: 'GET', path: '/2.0/x', schema: (await import('zod')).unknown() }),
    ).resolves.toEqual({ ok: true });
    expect(credentials.seen).toEqual(['Bearer tok-secret-1']);
    expect(client.requestCount).toBe(2);
  });

  it('a second 401 is UnauthorizedError, naming neither token', async () => {
    const pool = agent().get(HOST);
    for (const n of [1, 2]) {
      pool
        .intercept({
          path: '/api/2.0/x',
          method: 'GET',
          headers: { authorization: `Bearer tok-secret-${n}` },
        })
        .reply(401, { error_code: 'UNAUTHENTICATED', message: `Invalid access token tok-secret-${n}` });
    }
    const error = await http()
      .call({ operation: 'x', method: 'GET', path: '/2.0/x', schema: (await import('zod')).unknown() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(String((error as Error).message)).not.toMatch(/tok-secret/);
  });
});

describe('a personal access token refused', () => {
  it('is not sent again: one request, UnauthorizedError', async () => {
    agent()
      .get(HOST)
      .intercept({ path: '/api/2.0/x', method: 'GET' })
      .reply(401, { error_code: 'UNAUTHENTICATED', message: 'Invalid access token' });
    const pat = { authorization: async () => 'Bearer dapi-fixed-token-1', refused: () => {} };
    const client = http(pat as never);
    const error = await client
      .call({ operation: 'x', method: 'GET', path: '/2.0/x', schema: (await import('zod')).unknown() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(client.requestCount).toBe(1);
  });
});

describe('trace data upload', () => {
  const TRACE = `tr-${'a'.repeat(32)}`;
  const credentialsPath = `/api/2.0/mlflow/traces/${TRACE}/credentials-for-data-upload`;

  it('PUTs to the signed URL with only the headers the workspace named', async () => {
    agent()
      .get(HOST)
      .intercept({ path: credentialsPath, method: 'GET' })
      .reply(200, {
        credential_info: {
          signed_uri: 'https://bucket.s3.example.com/traces/t.json?X-Amz-Signature=sig',
          type: 'AWS_PRESIGNED_URL',
          headers: [{ name: 'x-amz-server-side-encryption', value: 'AES256' }],
        },
      });
    let sentHeaders: Record<string, string> = {};
    agent()
      .get('https://bucket.s3.example.com')
      .intercept({ path: '/traces/t.json?X-Amz-Signature=sig', method: 'PUT' })
      .reply(200, (request) => {
        sentHeaders = request.headers as Record<string, string>;
        return '';
      });
    await createTracking(http()).uploadTraceData(TRACE, '{"spans": []}');
    expect(sentHeaders['x-amz-server-side-encryption']).toBe('AES256');
    expect(sentHeaders.authorization).toBeUndefined();
  });

  it('tries again when the store fails for a moment, as MLflow does; not when it refuses', async () => {
    const signed = {
      signed_uri: 'https://bucket.s3.example.com/t.json?X-Amz-Signature=s',
      type: 'AWS_PRESIGNED_URL',
      headers: [],
    };
    agent()
      .get(HOST)
      .intercept({ path: credentialsPath, method: 'GET' })
      .reply(200, { credential_info: signed })
      .times(2);
    const store = agent().get('https://bucket.s3.example.com');
    store.intercept({ path: '/t.json?X-Amz-Signature=s', method: 'PUT' }).reply(503, 'slow down');
    store.intercept({ path: '/t.json?X-Amz-Signature=s', method: 'PUT' }).reply(200, '');
    await createTracking(http()).uploadTraceData(TRACE, '{}');
    store.intercept({ path: '/t.json?X-Amz-Signature=s', method: 'PUT' }).reply(403, 'SignatureDoesNotMatch');
    const refused = await createTracking(http())
      .uploadTraceData(TRACE, '{}')
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(String(refused)).toMatch(/HTTP 403/);
    expect(String(refused)).not.toContain('X-Amz-Signature');
  });

  it('sends nothing to a store without TLS when the workspace has it, nor to an Azure block URL', async () => {
    for (const [uri, type] of [
      ['http://bucket.example.com/t.json', 'AWS_PRESIGNED_URL'],
      ['https://acct.blob.core.windows.net/t.json?sig=1', 'AZURE_SAS_URI'],
    ] as const) {
      agent()
        .get(HOST)
        .intercept({ path: credentialsPath, method: 'GET' })
        .reply(200, { credential_info: { signed_uri: uri, type, headers: [] } });
      const error = await createTracking(http())
        .uploadTraceData(TRACE, '{}')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsupportedError);
      expect(String(error)).not.toContain('sig=1');
    }
  });
});

describe('SQL statements within the invocation deadline', () => {
  it('stops polling and cancels when the invocation has less time than the statement', async () => {
    const pool = agent().get(HOST);
    pool
      .intercept({ path: '/api/2.0/sql/statements', method: 'POST' })
      .reply(200, { statement_id: 's-1', status: { state: 'RUNNING' } });
    pool
      .intercept({ path: '/api/2.0/sql/statements/s-1', method: 'GET' })
      .reply(200, { statement_id: 's-1', status: { state: 'RUNNING' } })
      .persist();
    let cancelled = false;
    pool.intercept({ path: '/api/2.0/sql/statements/s-1/cancel', method: 'POST' }).reply(200, () => {
      cancelled = true;
      return {};
    });
    const runner = createStatementRunner(http());
    const started = Date.now();
    const error = await withDeadline(deadlineIn(300), () =>
      runner.run('SELECT 1', [], {
        warehouseId: 'w',
        maxRows: 1,
        maxBytes: 1000,
        timeoutMs: 60_000,
        pollMs: 50,
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(cancelled).toBe(true);
  });
});

describe('a statement is started once', () => {
  const statements = createStatementRunner;
  const run = (
    client: ReturnType<typeof http>,
    options: Partial<Parameters<ReturnType<typeof statements>['run']>[2]> = {},
  ) =>
    statements(client).run('SELECT 1', [], {
      warehouseId: 'w',
      maxRows: 100,
      maxBytes: 100_000,
      timeoutMs: 5_000,
      pollMs: 10,
      ...options,
    });
  const retrying = () =>
    createHttpClient({
      trackingUri: HOST,
      credentials: renewing(),
      dispatcher: agent(),
      timeoutMs: 400,
      retry: { maxAttempts: 3, baseDelayMs: 1 },
    });
  const done = (rows: string[][], next?: number) => ({
    statement_id: 's-1',
    status: { state: 'SUCCEEDED' },
    manifest: { schema: { columns: [{ name: 'x', type_name: 'STRING', position: 0 }] } },
    result: { chunk_index: 0, data_array: rows, ...(next === undefined ? {} : { next_chunk_index: next }) },
  });

  it('is sent again after a refusal that says it was not taken (503)', async () => {
    const pool = agent().get(HOST);
    pool
      .intercept({ path: '/api/2.0/sql/statements', method: 'POST' })
      .reply(503, { error_code: 'TEMPORARILY_UNAVAILABLE' });
    pool.intercept({ path: '/api/2.0/sql/statements', method: 'POST' }).reply(200, done([['a']]));
    await expect(run(retrying())).resolves.toMatchObject({ rows: [{ x: 'a' }] });
  });

  it('is not sent again when its answer did not come in time: the outcome is unknown', async () => {
    let posts = 0;
    agent()
      .get(HOST)
      .intercept({
        path: '/api/2.0/sql/statements',
        method: 'POST',
        body: () => {
          posts += 1;
          return true;
        },
      })
      .reply(200, done([['a']]))
      .delay(1_000)
      .persist();
    await expect(run(retrying())).rejects.toBeInstanceOf(UnavailableError);
    expect(posts).toBe(1);
  });

  it('follows a bounded number of chunks, and stops at the byte bound', async () => {
    const pool = agent().get(HOST);
    pool.intercept({ path: '/api/2.0/sql/statements', method: 'POST' }).reply(200, done([['a']], 1));
    let chunks = 0;
    pool
      .intercept({ path: /\/api\/2\.0\/sql\/statements\/s-1\/result\/chunks\/\d+/, method: 'GET' })
      .reply(200, () => {
        chunks += 1;
        return { chunk_index: chunks, data_array: [['b']], next_chunk_index: chunks + 1 };
      })
      .persist();
    const endless = await run(http());
    expect(chunks).toBe(15);
    expect(endless.truncated).toBe(true);
    expect(endless.rows).toHaveLength(16);

    pool
      .intercept({ path: '/api/2.0/sql/statements', method: 'POST' })
      .reply(200, done([['ü'.repeat(10)], ['b'], ['c']]));
    // 24 bytes (10 two-byte letters), then 5: the bound counts bytes, not characters.
    const bounded = await run(http(), { maxBytes: 25 });
    expect(bounded.rows).toHaveLength(1);
    expect(bounded.truncated).toBe(true);
  });
});

describe('time', () => {
  it('a re-send after a 401 has only what is left of the attempt', async () => {
    const pool = agent().get(HOST);
    pool
      .intercept({ path: '/api/2.0/x', method: 'GET', headers: { authorization: 'Bearer tok-secret-1' } })
      .reply(401, { error_code: 'UNAUTHENTICATED' })
      .delay(300);
    pool
      .intercept({ path: '/api/2.0/x', method: 'GET', headers: { authorization: 'Bearer tok-secret-2' } })
      .reply(200, { ok: true })
      .delay(400);
    const client = createHttpClient({
      trackingUri: HOST,
      credentials: renewing(),
      dispatcher: agent(),
      timeoutMs: 500,
      retry: { maxAttempts: 1 },
    });
    const started = Date.now();
    const error = await client
      .call({ operation: 'x', method: 'GET', path: '/2.0/x', schema: (await import('zod')).unknown() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(650);
  });

  it('the trace upload keeps to the caller deadline', async () => {
    const TRACE = `tr-${'b'.repeat(32)}`;
    agent()
      .get(HOST)
      .intercept({ path: `/api/2.0/mlflow/traces/${TRACE}/credentials-for-data-upload`, method: 'GET' })
      .reply(200, {
        credential_info: {
          signed_uri: 'https://bucket.s3.example.com/u.json?s=1',
          type: 'AWS_PRESIGNED_URL',
          headers: [],
        },
      });
    agent()
      .get('https://bucket.s3.example.com')
      .intercept({ path: '/u.json?s=1', method: 'PUT' })
      .reply(200, '')
      .delay(3_000);
    const started = Date.now();
    const error = await withDeadline(deadlineIn(300), () =>
      createTracking(http()).uploadTraceData(TRACE, '{}'),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('a rotated client secret on the model and data paths', () => {
  /** A secret cache holding the secret from before the rotation until it is refreshed. */
  function rotatedSecrets() {
    const secret = (clientSecret: string): RegistrySecret => ({
      registry: { type: 'databricks', host: HOST, clientId: 'sp', clientSecret },
      model: { servingEndpoint: 'claude' },
    });
    let current = secret('before-rotation');
    let refreshes = 0;
    const cache: SecretCache = {
      get: async () => current,
      refresh: async () => {
        refreshes += 1;
        current = secret('after-rotation');
        return current;
      },
      fetchCount: 0,
      clear: () => {},
    };
    return { cache, refreshes: () => refreshes };
  }

  function workspace() {
    const pool = agent().get(HOST);
    pool
      .intercept({ path: '/oidc/.well-known/oauth-authorization-server', method: 'GET' })
      .reply(200, { token_endpoint: `${HOST}/oidc/v1/token` })
      .times(2);
    const basic = (secret: string) => `Basic ${Buffer.from(`sp:${secret}`).toString('base64')}`;
    pool
      .intercept({
        path: '/oidc/v1/token',
        method: 'POST',
        headers: { authorization: basic('before-rotation') },
      })
      .reply(401, { error: 'invalid_client' });
    pool
      .intercept({
        path: '/oidc/v1/token',
        method: 'POST',
        headers: { authorization: basic('after-rotation') },
      })
      .reply(200, { access_token: 'fresh-token-123', token_type: 'Bearer', expires_in: 3600 });
    return pool;
  }

  it('the serving endpoint: the secret is read again once, and the completion goes on', async () => {
    const { cache, refreshes } = rotatedSecrets();
    workspace()
      .intercept({
        path: '/serving-endpoints/chat/completions',
        method: 'POST',
        headers: { authorization: 'Bearer fresh-token-123' },
      })
      .reply(200, {
        choices: [{ message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        model: 'claude',
      });
    const model = await createModelProvider({ secrets: cache, secretId: 's', dispatcher: agent() })();
    await expect(
      model.complete({ messages: [{ role: 'user', content: 'q' }], maxTokens: 10 }),
    ).resolves.toMatchObject({
      content: 'ok',
    });
    expect(refreshes()).toBe(1);
  });

  it('the SQL warehouse: the secret is read again once, and the statement runs', async () => {
    const { cache, refreshes } = rotatedSecrets();
    workspace()
      .intercept({
        path: '/api/2.0/sql/statements',
        method: 'POST',
        headers: { authorization: 'Bearer fresh-token-123' },
      })
      .reply(200, {
        statement_id: 's-9',
        status: { state: 'SUCCEEDED' },
        manifest: { schema: { columns: [] } },
      });
    const runner = await secretStatementRunner({ secrets: cache, secretId: 's', dispatcher: agent() })();
    await expect(
      runner.run('SELECT 1', [], { warehouseId: 'w', maxRows: 1, maxBytes: 100, timeoutMs: 2_000 }),
    ).resolves.toMatchObject({ statementId: 's-9' });
    expect(refreshes()).toBe(1);
  });
});
