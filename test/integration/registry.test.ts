/**
 * Every registry operation against a real MLflow tracking server, errors included: the suite both
 * dialects share (test/support/registry-suite.ts), then what only the tracking server has.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ForbiddenError, NotFoundError, UnauthorizedError, UnavailableError } from '../../lib/errors';
import { basicAuth, createRegistryClient, type RegistryClient } from '../../lib/registry';
import { uniqueName } from '../support/names';
import { startOracle } from '../support/oracle';
import { registrySuite } from '../support/registry-suite';
import { freePort, type RunningServer, startMlflow } from '../support/servers';

const uri = inject('mlflowUri');
let registry: RegistryClient;

beforeAll(() => {
  registry = createRegistryClient({ trackingUri: uri });
});

describe('the registry suite, on the tracking server', () => {
  registrySuite({
    uri: () => uri,
    client: (at = uri, options = {}) =>
      createRegistryClient({
        trackingUri: at,
        ...(options.retryDelayMs !== undefined ? { retry: { baseDelayMs: options.retryDelayMs } } : {}),
      }),
    name: (label) => uniqueName(label),
    searchFilter: (base) => `name LIKE '${base}_%'`,
    isCreateVersion: (method, path) =>
      method === 'POST' && path.startsWith('/api/2.0/mlflow/model-versions/create'),
    errors: {
      alreadyExists: { httpStatus: 400, mlflowErrorCode: 'RESOURCE_ALREADY_EXISTS' },
      // MLflow answers a missing alias with HTTP 400 INVALID_PARAMETER_VALUE; the client reads it as not found.
      missingAlias: { httpStatus: 400, mlflowErrorCode: 'INVALID_PARAMETER_VALUE' },
    },
    copiesVersionTagsToPrompt: true,
    deletesPromptWithVersions: true,
    // One search answers prompts on their latest version; one more search, or a read, the others.
    batchRequests: { allLatest: () => 1, oneLagging: () => 2, allLagging: () => 2 },
    traces: () => {
      const oracle = startOracle(uri);
      return {
        start: () => oracle.call<string>('start_trace'),
        linked: async (traceId, name, version) =>
          (await oracle.call<string[]>('traces_for_prompt', { name, version })).includes(traceId),
        close: () => oracle.close(),
      };
    },
  });
});

describe('only on the tracking server', () => {
  it('reports an unreachable server as UnavailableError after bounded retries', async () => {
    const port = await freePort();
    const offline = createRegistryClient({
      trackingUri: `http://127.0.0.1:${port}`,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    await expect(offline.getPrompt('x')).rejects.toBeInstanceOf(UnavailableError);
    expect(offline.requestCount).toBe(2);
  });

  it('reports a missing trace as NotFoundError', async () => {
    const name = uniqueName('trace404');
    await registry.registerPrompt({ name, template: 'x' });
    await expect(
      registry.linkPromptsToTrace('tr-00000000000000000000000000000000', [{ name, version: 1 }]),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('authentication (MLflow basic-auth server)', () => {
  const adminPassword = 'admin-Passw0rd-for-tests';
  const viewerPassword = 'viewer-Passw0rd-for-tests';
  let server: RunningServer;

  beforeAll(async () => {
    server = await startMlflow({ adminPassword });
    const response = await fetch(`${server.url}/api/2.0/mlflow/users/create`, {
      method: 'POST',
      headers: {
        authorization: basicAuth('admin', adminPassword).header,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ username: 'viewer', password: viewerPassword }),
    });
    expect(response.status).toBe(200);
  });
  afterAll(() => server?.stop());

  it('works with basic auth, refuses no credentials (401) and a read-only user (403)', async () => {
    const admin = createRegistryClient({ trackingUri: server.url, auth: basicAuth('admin', adminPassword) });
    const name = uniqueName('auth');
    await admin.registerPrompt({ name, template: 'secret-free {{ x }}' });
    await expect(admin.loadPrompt(name)).resolves.toMatchObject({ version: 1 });

    const anonymous = createRegistryClient({ trackingUri: server.url });
    const unauthorized = await anonymous.loadPrompt(name).catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(UnauthorizedError);

    const viewer = createRegistryClient({
      trackingUri: server.url,
      auth: basicAuth('viewer', viewerPassword),
    });
    await expect(viewer.loadPrompt(name)).resolves.toMatchObject({ version: 1 });
    const forbidden = await viewer.setAlias(name, 'production', 1).catch((e: unknown) => e);
    expect(forbidden).toBeInstanceOf(ForbiddenError);
    for (const error of [unauthorized, forbidden]) {
      expect(String((error as Error).message)).not.toContain(viewerPassword);
      expect(inspect(error, { showHidden: true, depth: null })).not.toContain(viewerPassword);
    }
  });
});
