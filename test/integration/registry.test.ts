/** Every registry operation against a real MLflow tracking server, errors included. */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  AlreadyExistsError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../../lib/errors';
import { basicAuth, createRegistryClient, type RegistryClient } from '../../lib/registry';
import { startLossyProxy } from '../support/lossy-proxy';
import { uniqueName } from '../support/names';
import { type Oracle, startOracle } from '../support/oracle';
import { freePort, type RunningServer, startMlflow } from '../support/servers';

const uri = inject('mlflowUri');
let registry: RegistryClient;

beforeAll(() => {
  registry = createRegistryClient({ trackingUri: uri });
});

describe('register and read back', () => {
  it('creates a prompt with its first version, and a second version', async () => {
    const name = uniqueName('reg');
    const v1 = await registry.registerPrompt({
      name,
      template: 'Hello {{ name }}',
      commitMessage: 'first',
      tags: { team: 'platform' },
      modelConfig: { model_name: 'gpt-x', temperature: 0.2, max_tokens: 100 },
      responseFormat: { type: 'object', properties: { answer: { type: 'string' } } },
    });
    expect(v1).toMatchObject({ name, version: 1, type: 'text', variables: ['name'], commitMessage: 'first' });
    const v2 = await registry.registerPrompt({ name, template: 'Hi {{ name }} from {{ place }}' });
    expect(v2.version).toBe(2);

    const read = await registry.getPromptVersion(name, 1);
    expect(read).toMatchObject({
      template: 'Hello {{ name }}',
      tags: { team: 'platform' },
      modelConfig: { model_name: 'gpt-x', temperature: 0.2, max_tokens: 100 },
      responseFormat: { type: 'object', properties: { answer: { type: 'string' } } },
    });
    const prompt = await registry.getPrompt(name);
    expect(prompt).toMatchObject({
      name,
      description: 'first',
      tags: { team: 'platform' },
      latestVersion: 2,
    });
  });

  it('registers and reads a chat prompt', async () => {
    const name = uniqueName('chat');
    const template = [
      { role: 'system', content: 'You are {{ persona }}. Héllo ✓' },
      { role: 'user', content: '{{ question }}' },
    ];
    await registry.registerPrompt({ name, template });
    const read = await registry.loadPrompt(`prompts:/${name}/1`);
    expect(read.type).toBe('chat');
    expect(read.template).toEqual(template);
    expect(read.variables).toEqual(['persona', 'question']);
  });

  it('createPrompt refuses an existing name with AlreadyExistsError (MLflow: HTTP 400)', async () => {
    const name = uniqueName('dup');
    await registry.createPrompt({ name, description: 'd' });
    const error = await registry.createPrompt({ name }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect(error).toMatchObject({
      registry: { httpStatus: 400, mlflowErrorCode: 'RESOURCE_ALREADY_EXISTS' },
    });
  });

  it('does not leave a duplicate version when the answer to a create is lost', async () => {
    const name = uniqueName('lost');
    await registry.registerPrompt({ name, template: 'v1 {{ x }}' });
    let armed = true;
    const proxy = await startLossyProxy(uri, (method, path) => {
      const hit = armed && method === 'POST' && path.startsWith('/api/2.0/mlflow/model-versions/create');
      if (hit) armed = false;
      return hit;
    });
    try {
      const viaProxy = createRegistryClient({ trackingUri: proxy.url, retry: { baseDelayMs: 10 } });
      const created = await viaProxy.registerPrompt({
        name,
        template: 'v2 {{ x }}',
        commitMessage: 'second',
      });
      expect(proxy.dropped).toBe(1);
      expect(created.version).toBe(2);
      const versions = await registry.searchPromptVersions(name);
      expect(versions.items.map((v) => v.version)).toEqual([2, 1]);
    } finally {
      await proxy.close();
    }
  });
});

describe('aliases', () => {
  let name: string;
  beforeAll(async () => {
    name = uniqueName('alias');
    await registry.registerPrompt({ name, template: 'one {{ a }}' });
    await registry.registerPrompt({ name, template: 'two {{ a }}' });
  });

  it('sets an alias and resolves it in one request', async () => {
    await registry.setAlias(name, 'production', 1);
    const counting = createRegistryClient({ trackingUri: uri });
    const resolved = await counting.loadPrompt(`prompts:/${name}@production`);
    expect(counting.requestCount).toBe(1);
    expect(resolved).toMatchObject({ version: 1, template: 'one {{ a }}', aliases: ['production'] });
  });

  it('resolves @latest and a bare name to the highest version', async () => {
    await expect(registry.loadPrompt(`prompts:/${name}@latest`)).resolves.toMatchObject({ version: 2 });
    await expect(registry.loadPrompt(name)).resolves.toMatchObject({ version: 2, template: 'two {{ a }}' });
  });

  it('deletes an alias; resolving it then is NotFoundError', async () => {
    await registry.setAlias(name, 'staging', 2);
    await registry.deleteAlias(name, 'staging');
    const error = await registry.resolveAlias(name, 'staging').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({
      registry: { httpStatus: 400, mlflowErrorCode: 'INVALID_PARAMETER_VALUE' },
    });
    // MLflow accepts deleting an alias that does not exist.
    await expect(registry.deleteAlias(name, 'staging')).resolves.toBeUndefined();
  });

  it('refuses an alias to a missing version with NotFoundError', async () => {
    await expect(registry.setAlias(name, 'canary', 42)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('moves an alias', async () => {
    await registry.setAlias(name, 'production', 2);
    await expect(registry.resolveAlias(name, 'production')).resolves.toMatchObject({ version: 2 });
    const prompt = await registry.getPrompt(name);
    expect(prompt.aliases.production).toBe(2);
  });
});

describe('not found and invalid input', () => {
  it('reports missing prompts and versions as NotFoundError', async () => {
    await expect(registry.getPrompt(uniqueName('none'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(registry.loadPrompt(`prompts:/${uniqueName('none')}/1`)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(registry.resolveAlias(uniqueName('none'), 'latest')).rejects.toBeInstanceOf(NotFoundError);
    const name = uniqueName('nover');
    await registry.registerPrompt({ name, template: 'x' });
    await expect(registry.getPromptVersion(name, 99)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('passes a bad search filter through to the server and reports its refusal as InvalidInputError', async () => {
    await expect(registry.searchPrompts({ filter: "foo = 'bar'" })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('reports an unreachable server as UnavailableError after bounded retries', async () => {
    const port = await freePort();
    const offline = createRegistryClient({
      trackingUri: `http://127.0.0.1:${port}`,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    await expect(offline.getPrompt('x')).rejects.toBeInstanceOf(UnavailableError);
    expect(offline.requestCount).toBe(2);
  });
});

describe('search, tags, deletes', () => {
  it('pages through prompts matching a filter, prompts only', async () => {
    const prefix = uniqueName('search');
    for (const n of ['a', 'b', 'c']) await registry.registerPrompt({ name: `${prefix}.${n}`, template: n });
    const first = await registry.searchPrompts({ filter: `name LIKE '${prefix}.%'`, maxResults: 2 });
    expect(first.items.map((p) => p.name)).toEqual([`${prefix}.a`, `${prefix}.b`]);
    expect(first.nextPageToken).toBeDefined();
    const second = await registry.searchPrompts({
      filter: `name LIKE '${prefix}.%'`,
      maxResults: 2,
      pageToken: first.nextPageToken,
    });
    expect(second.items.map((p) => p.name)).toEqual([`${prefix}.c`]);
  });

  it('sets and deletes prompt tags, and sets version tags', async () => {
    const name = uniqueName('tags');
    await registry.registerPrompt({ name, template: 'x' });
    await registry.setPromptTag(name, 'owner', 'ml');
    await registry.setVersionTag(name, 1, 'reviewed', 'yes');
    expect((await registry.getPrompt(name)).tags).toMatchObject({ owner: 'ml' });
    expect((await registry.getPromptVersion(name, 1)).tags).toEqual({ reviewed: 'yes' });
    await registry.deletePromptTag(name, 'owner');
    expect((await registry.getPrompt(name)).tags).not.toHaveProperty('owner');
  });

  it('deletes a prompt with its versions', async () => {
    const name = uniqueName('del');
    await registry.registerPrompt({ name, template: 'one' });
    await registry.registerPrompt({ name, template: 'two' });
    await registry.deletePrompt(name);
    await expect(registry.getPrompt(name)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('trace links', () => {
  let oracle: Oracle;
  beforeAll(() => {
    oracle = startOracle(uri);
  });
  afterAll(() => oracle.close());

  it('links prompt versions to a trace so MLflow finds the trace by prompt', async () => {
    const name = uniqueName('trace');
    await registry.registerPrompt({ name, template: 'x {{ y }}' });
    const traceId = await oracle.call<string>('start_trace');
    await expect(registry.linkPromptsToTrace(traceId, [{ name, version: 1 }])).resolves.toEqual({
      linked: true,
    });
    await expect(oracle.call('traces_for_prompt', { name, version: 1 })).resolves.toEqual([traceId]);
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

describe('resolveAliases (a batch)', () => {
  let names: string[];
  beforeAll(async () => {
    names = [uniqueName('batch'), uniqueName('batch'), uniqueName('batch')];
    for (const name of names) {
      await registry.registerPrompt({ name, template: `one ${name} {{ x }}` });
      await registry.setAlias(name, 'production', 1);
    }
  });

  it('answers every prompt whose alias is on its latest version with one request', async () => {
    const counting = createRegistryClient({ trackingUri: uri });
    const batch = await counting.resolveAliases(names, 'production');
    expect(counting.requestCount).toBe(1);
    const single = await Promise.all(names.map((n) => registry.resolveAlias(n, 'production')));
    expect(batch).toEqual(single);
  });

  it('fetches the others one request each, in the order asked', async () => {
    const [first = '', second = '', third = ''] = names;
    await registry.registerPrompt({ name: second, template: 'two {{ x }}' });
    const counting = createRegistryClient({ trackingUri: uri });
    const batch = await counting.resolveAliases([third, second, first], 'production');
    expect(counting.requestCount).toBe(2);
    expect(batch.map((p) => [p.name, p.version])).toEqual([
      [third, 1],
      [second, 1],
      [first, 1],
    ]);
    expect(batch[1]).toEqual(await registry.resolveAlias(second, 'production'));
    await expect(counting.resolveAliases([second], 'latest')).resolves.toEqual([
      await registry.resolveAlias(second, 'latest'),
    ]);
  });

  it('fetches all lagging prompts with one more search', async () => {
    for (const name of names) await registry.registerPrompt({ name, template: `newer ${name}` });
    const counting = createRegistryClient({ trackingUri: uri });
    const batch = await counting.resolveAliases(names, 'production');
    expect(counting.requestCount).toBe(2);
    expect(batch).toEqual(await Promise.all(names.map((n) => registry.resolveAlias(n, 'production'))));
  });

  it('fails naming the prompt that is missing or lacks the alias', async () => {
    const ghost = uniqueName('ghost');
    await expect(registry.resolveAliases([...names, ghost], 'production')).rejects.toThrow(
      `Prompt '${ghost}' not found.`,
    );
    await expect(registry.resolveAliases(names, 'canary')).rejects.toThrow(/has no alias 'canary'/);
  });
});
