/**
 * The registry client in the Unity Catalog dialect, against the Databricks contract server (there
 * is no workspace here; test/support/databricks-contract says what it is and is not): the suite
 * the tracking server also passes, then what only Unity Catalog has, and both credentials.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { m2mCredentials, patCredentials } from '../../lib/databricks/credentials';
import { createDatabricksRegistryClient } from '../../lib/databricks/registry';
import { InvalidInputError, NotFoundError, UnauthorizedError } from '../../lib/errors';
import { type DatabricksContract, startDatabricksContract } from '../support/databricks-contract/server';
import { registrySuite } from '../support/registry-suite';

const PAT = 'dapi-contract-pat-0123456789';
const CLIENT_ID = 'sp-promptops-tests';
const CLIENT_SECRET = 'sp-secret-0123456789abcdef';
const CATALOG = 'main';
const SCHEMA = 'agents';

let contract: DatabricksContract;
beforeAll(async () => {
  contract = await startDatabricksContract({ pats: [PAT], clients: { [CLIENT_ID]: CLIENT_SECRET } });
});
afterAll(() => contract?.close());

const ucName = (label: string) => `${CATALOG}.${SCHEMA}.${label}_${randomUUID().slice(0, 8)}`;
const patClient = (apiUrl?: string, retryDelayMs?: number) =>
  createDatabricksRegistryClient({
    credentials: patCredentials(contract.url, PAT),
    apiUrl,
    catalog: CATALOG,
    schema: SCHEMA,
    ...(retryDelayMs !== undefined ? { retry: { baseDelayMs: retryDelayMs } } : {}),
  });

describe('the registry suite, on Unity Catalog (contract server)', () => {
  registrySuite({
    uri: () => contract.url,
    client: (at, options = {}) => patClient(at, options.retryDelayMs),
    name: ucName,
    searchFilter: (base) => `catalog = '${CATALOG}' AND schema = '${SCHEMA}' AND name LIKE '${base}_%'`,
    isCreateVersion: (method, path) =>
      method === 'POST' && /\/unity-catalog\/prompts\/[^/]+\/versions$/.test(path),
    errors: {
      alreadyExists: { httpStatus: 409, mlflowErrorCode: 'ALREADY_EXISTS' },
      missingAlias: { httpStatus: 404, mlflowErrorCode: 'RESOURCE_DOES_NOT_EXIST' },
    },
    copiesVersionTagsToPrompt: false,
    deletesPromptWithVersions: false,
    // No batch read on Unity Catalog: the prompt (its tags) and the version, per prompt, in one round trip.
    batchRequests: { allLatest: (n) => 2 * n, oneLagging: (n) => 2 * n, allLagging: (n) => 2 * n },
    traces: () => ({
      start: async () => {
        // A trace the workspace has (links to unknown traces are refused).
        const id = `tr-${randomUUID().replaceAll('-', '')}`;
        contract.traces.traces.set(id, { info: { tags: {} } });
        return id;
      },
      linked: async (traceId, name, version) =>
        contract.prompts.traceLinks.get(traceId)?.has(`${name}/${version}`) ?? false,
      close: async () => {},
    }),
  });
});

describe('only on Unity Catalog', () => {
  it('refuses a dotted tag key before any request, naming it', async () => {
    const registry = patClient();
    const error = await registry
      .registerPrompt({ name: ucName('dots'), template: 'x', tags: { 'team.owner': 'a' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(String(error)).toMatch(/'team\.owner'.*cannot contain dots/);
    expect(registry.requestCount).toBe(0);
  });

  it('writes our own keys underscored and reads them back in the spelling the code uses', async () => {
    const registry = patClient();
    const name = ucName('own');
    await registry.registerPrompt({ name, template: 'x' });
    await registry.setPromptTag(name, 'promptops.alias_history.production', '[]');
    await registry.setVersionTag(name, 1, 'promptops.content_hash', 'sha256:abc');
    const sent = contract.log.filter(
      (r) => r.method === 'POST' && r.path.endsWith('/tags') && r.path.includes(name),
    );
    expect(sent.map((r) => (r.body as { key: string }).key)).toEqual([
      'promptops_alias_history_production',
      'promptops_content_hash',
    ]);
    expect((await registry.getPrompt(name)).tags).toEqual({ 'promptops.alias_history.production': '[]' });
    expect((await registry.getPromptVersion(name, 1)).tags).toEqual({
      'promptops.content_hash': 'sha256:abc',
    });
  });

  it("refuses a caller's key in our underscored spelling: it would read back as ours", async () => {
    const registry = patClient();
    const name = ucName('forged');
    await registry.registerPrompt({ name, template: 'x' });
    const before = registry.requestCount;
    await expect(registry.setPromptTag(name, 'promptops_moved_to_production', '1')).rejects.toThrow(
      /promptops_\*/,
    );
    await expect(
      registry.registerPrompt({ name, template: 'y', tags: { promptops_content_hash: 'sha256:forged' } }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    expect(registry.requestCount).toBe(before);
  });

  it('deleting an alias that is not there is done; of a prompt that is not there, NotFoundError', async () => {
    const registry = patClient();
    const name = ucName('noalias');
    await registry.registerPrompt({ name, template: 'x' });
    await expect(registry.deleteAlias(name, 'canary')).resolves.toBeUndefined();
    await expect(registry.deleteAlias(ucName('ghost'), 'canary')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('searches only within a catalog and schema', async () => {
    const registry = createDatabricksRegistryClient({ credentials: patCredentials(contract.url, PAT) });
    const error = await registry.searchPrompts({ filter: "name LIKE 'x%'" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(String(error)).toMatch(/PROMPT_CATALOG and PROMPT_SCHEMA/);
    expect(registry.requestCount).toBe(0);
  });

  it('sends the template JSON-encoded and the version tags in the SDK order, with no mlflow.prompt.* tag', async () => {
    const name = ucName('wire');
    await patClient().registerPrompt({
      name,
      template: 'Héllo {{ x }}',
      tags: { team: 'a' },
      responseFormat: { type: 'object' },
    });
    const create = contract.log.find(
      (r) => r.method === 'POST' && r.path.endsWith(`/prompts/${name}/versions`),
    );
    expect(create?.body).toEqual({
      name,
      prompt_version: {
        name,
        template: '"H\\u00e9llo {{ x }}"',
        tags: [
          { key: 'team', value: 'a' },
          { key: '_mlflow_prompt_response_format', value: '{"type": "object"}' },
          { key: '_mlflow_prompt_type', value: 'text' },
        ],
      },
    });
  });
});

describe('credentials', () => {
  it('a personal access token is sent as a bearer token; a wrong one is UnauthorizedError', async () => {
    const name = ucName('pat');
    await patClient().registerPrompt({ name, template: 'x' });
    expect(contract.log.at(-1)?.auth).toBe('bearer pat');
    const wrong = createDatabricksRegistryClient({
      credentials: patCredentials(contract.url, 'dapi-wrong-token-000'),
    });
    const error = await wrong.getPrompt(name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(String(error)).not.toContain('dapi-wrong-token-000');
  });

  it('OAuth M2M: one token for concurrent requests, a new one after a 401, and one on expiry', async () => {
    let clock = Date.now();
    const credentials = m2mCredentials({
      host: contract.url,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      now: () => clock,
    });
    const registry = createDatabricksRegistryClient({ credentials, catalog: CATALOG, schema: SCHEMA });
    const before = contract.tokensIssued;
    const names = [ucName('m2m'), ucName('m2m'), ucName('m2m')];
    await Promise.all(names.map((name) => registry.registerPrompt({ name, template: 'x' })));
    expect(contract.tokensIssued - before).toBe(1);
    expect(contract.log.at(-1)?.auth).toBe('bearer oauth');

    // The workspace stops honouring the token: the request is refused once, then sent again with a new one.
    contract.revokeTokens();
    const revokedAt = contract.log.length;
    await expect(registry.getPrompt(names[0] as string)).resolves.toMatchObject({ latestVersion: 1 });
    expect(contract.tokensIssued - before).toBe(2);
    // Both requests of getPrompt (the prompt, its latest version) were refused once, then re-sent.
    const refused = contract.log.slice(revokedAt).filter((r) => r.auth === 'bearer unknown');
    expect(refused).toHaveLength(2);

    // An hour later the token is past its expiry (less the margin): a new one before any request.
    clock += 3600 * 1000;
    const countBefore = contract.log.length;
    await registry.getPromptVersion(names[1] as string, 1);
    expect(contract.tokensIssued - before).toBe(3);
    expect(contract.log.slice(countBefore).filter((r) => r.auth === 'bearer unknown')).toEqual([]);
  });

  it('OAuth M2M with a wrong secret is UnauthorizedError naming no secret', async () => {
    const registry = createDatabricksRegistryClient({
      credentials: m2mCredentials({
        host: contract.url,
        clientId: CLIENT_ID,
        clientSecret: 'not-the-secret-123',
      }),
    });
    const error = await registry.getPrompt(ucName('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(String(error)).toMatch(/invalid_client/);
    expect(String(error)).not.toContain('not-the-secret-123');
  });
});
