/**
 * The registry client's behaviour, one suite for every dialect: run against the real MLflow
 * tracking server (registry.test.ts) and against the Databricks contract server in the Unity
 * Catalog dialect (registry-uc.test.ts). Where the APIs make the dialects differ, the profile says
 * how, and the suite checks each side of the difference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, InvalidInputError, NotFoundError } from '../../lib/errors';
import type { RegistryClient } from '../../lib/registry';
import { startForwardingProxy } from './forwarding-proxy';
import { startLossyProxy } from './lossy-proxy';

export interface RegistryProfile {
  /** The server's URL, once it runs (read inside tests). */
  uri(): string;
  /** A client of this dialect for a URL (default the server's), with its credentials. */
  client(uri?: string, options?: { retryDelayMs?: number }): RegistryClient;
  /** A prompt name no other test uses; `suffix` names a family member for search tests. */
  name(label: string): string;
  /** Search filter for the names `name(label)` + `_x` share. */
  searchFilter(base: string): string;
  /** The path of the request that creates a version. */
  isCreateVersion(method: string, path: string): boolean;
  readonly errors: {
    readonly alreadyExists: { httpStatus: number; mlflowErrorCode: string };
    readonly missingAlias: { httpStatus: number; mlflowErrorCode: string };
  };
  /** Whether registering a version copies its tags onto the prompt (MLflow's SDK: tracking server only). */
  readonly copiesVersionTagsToPrompt: boolean;
  /** Whether deleting a prompt deletes its versions (tracking server) or is refused while it has any (UC). */
  readonly deletesPromptWithVersions: boolean;
  /** Requests for resolveAliases over `prompts` prompts: all on their latest version; one lagging; all lagging. */
  readonly batchRequests: {
    allLatest(n: number): number;
    oneLagging(n: number): number;
    allLagging(n: number): number;
  };
  /** A fresh trace's id, and how to tell the registry linked a prompt version to it. */
  traces(): {
    start(): Promise<string>;
    linked(traceId: string, name: string, version: number): Promise<boolean>;
    close(): Promise<void>;
  };
}

export function registrySuite(profile: RegistryProfile): void {
  let registry: RegistryClient;
  beforeAll(() => {
    registry = profile.client();
  });

  describe('register and read back', () => {
    it('creates a prompt with its first version, and a second version', async () => {
      const name = profile.name('reg');
      const v1 = await registry.registerPrompt({
        name,
        template: 'Hello {{ name }}',
        commitMessage: 'first',
        tags: { team: 'platform' },
        modelConfig: { model_name: 'gpt-x', temperature: 0.2, max_tokens: 100 },
        responseFormat: { type: 'object', properties: { answer: { type: 'string' } } },
      });
      expect(v1).toMatchObject({
        name,
        version: 1,
        type: 'text',
        variables: ['name'],
        commitMessage: 'first',
      });
      const v2 = await registry.registerPrompt({
        name,
        template: 'Hi {{ name }} from {{ place }}',
        tags: { team: 'ml' },
      });
      expect(v2.version).toBe(2);

      const read = await registry.getPromptVersion(name, 1);
      expect(read).toMatchObject({
        template: 'Hello {{ name }}',
        tags: { team: 'platform' },
        modelConfig: { model_name: 'gpt-x', temperature: 0.2, max_tokens: 100 },
        responseFormat: { type: 'object', properties: { answer: { type: 'string' } } },
      });
      const prompt = await registry.getPrompt(name);
      expect(prompt).toMatchObject({ name, description: 'first', latestVersion: 2 });
      // The first registration's tags are on the prompt on both; later ones only on the tracking server.
      expect(prompt.tags.team).toBe(profile.copiesVersionTagsToPrompt ? 'ml' : 'platform');
    });

    it('registers and reads a chat prompt', async () => {
      const name = profile.name('chat');
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

    it('createPrompt refuses an existing name with AlreadyExistsError', async () => {
      const name = profile.name('dup');
      await registry.createPrompt({ name, description: 'd' });
      const error = await registry.createPrompt({ name }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AlreadyExistsError);
      expect(error).toMatchObject({ registry: profile.errors.alreadyExists });
    });

    it('does not leave a duplicate version when the answer to a create is lost', async () => {
      const name = profile.name('lost');
      await registry.registerPrompt({ name, template: 'v1 {{ x }}' });
      let armed = true;
      const proxy = await startLossyProxy(profile.uri(), (method, path) => {
        const hit = armed && profile.isCreateVersion(method, path);
        if (hit) armed = false;
        return hit;
      });
      try {
        const viaProxy = profile.client(proxy.url, { retryDelayMs: 10 });
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
      name = profile.name('alias');
      await registry.registerPrompt({ name, template: 'one {{ a }}' });
      await registry.registerPrompt({ name, template: 'two {{ a }}' });
    });

    it('sets an alias and resolves it in one request', async () => {
      await registry.setAlias(name, 'production', 1);
      const counting = profile.client();
      const resolved = await counting.loadPrompt(`prompts:/${name}@production`);
      expect(counting.requestCount).toBe(1);
      expect(resolved).toMatchObject({ version: 1, template: 'one {{ a }}', aliases: ['production'] });
    });

    it('resolves @latest and a bare name to the highest version', async () => {
      await expect(registry.loadPrompt(`prompts:/${name}@latest`)).resolves.toMatchObject({ version: 2 });
      await expect(registry.loadPrompt(name)).resolves.toMatchObject({ version: 2, template: 'two {{ a }}' });
    });

    it('deletes an alias; resolving it then is NotFoundError; deleting it again is done', async () => {
      await registry.setAlias(name, 'staging', 2);
      await registry.deleteAlias(name, 'staging');
      const error = await registry.resolveAlias(name, 'staging').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error).toMatchObject({ registry: profile.errors.missingAlias });
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
      await expect(registry.getPrompt(profile.name('none'))).rejects.toBeInstanceOf(NotFoundError);
      await expect(registry.loadPrompt(`prompts:/${profile.name('none')}/1`)).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await expect(registry.resolveAlias(profile.name('none'), 'latest')).rejects.toBeInstanceOf(
        NotFoundError,
      );
      const name = profile.name('nover');
      await registry.registerPrompt({ name, template: 'x' });
      await expect(registry.getPromptVersion(name, 99)).rejects.toBeInstanceOf(NotFoundError);
    });

    it("reports the server's refusal of a filter it does not understand as InvalidInputError", async () => {
      const error = await registry
        .searchPrompts({ filter: `${profile.searchFilter('x')} AND foo = 'bar'` })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
    });
  });

  describe('search, tags, deletes', () => {
    it('pages through prompts matching a filter, prompts only', async () => {
      const base = profile.name('search');
      for (const n of ['a', 'b', 'c']) await registry.registerPrompt({ name: `${base}_${n}`, template: n });
      const filter = profile.searchFilter(base);
      const first = await registry.searchPrompts({ filter, maxResults: 2 });
      expect(first.items.map((p) => p.name)).toEqual([`${base}_a`, `${base}_b`]);
      expect(first.nextPageToken).toBeDefined();
      const second = await registry.searchPrompts({ filter, maxResults: 2, pageToken: first.nextPageToken });
      expect(second.items.map((p) => p.name)).toEqual([`${base}_c`]);
    });

    it('sets and deletes prompt tags, and sets version tags', async () => {
      const name = profile.name('tags');
      await registry.registerPrompt({ name, template: 'x' });
      await registry.setPromptTag(name, 'owner', 'ml');
      await registry.setVersionTag(name, 1, 'reviewed', 'yes');
      expect((await registry.getPrompt(name)).tags).toMatchObject({ owner: 'ml' });
      expect((await registry.getPromptVersion(name, 1)).tags).toEqual({ reviewed: 'yes' });
      await registry.deletePromptTag(name, 'owner');
      expect((await registry.getPrompt(name)).tags).not.toHaveProperty('owner');
    });

    it('deletes a prompt: with its versions on the tracking server, refused while it has any on Unity Catalog', async () => {
      const name = profile.name('del');
      await registry.registerPrompt({ name, template: 'one' });
      await registry.registerPrompt({ name, template: 'two' });
      if (profile.deletesPromptWithVersions) {
        await registry.deletePrompt(name);
        await expect(registry.getPrompt(name)).rejects.toBeInstanceOf(NotFoundError);
      } else {
        await expect(registry.deletePrompt(name)).rejects.toThrow(/still has versions/);
        await expect(registry.getPrompt(name)).resolves.toMatchObject({ latestVersion: 2 });
      }
    });

    it('removes a new prompt whose first version was refused, so nothing is half-written', async () => {
      const name = profile.name('half');
      // The version create never reaches the server: answered 400, as a refused template would be.
      const proxy = await startForwardingProxy(profile.uri(), (req) =>
        profile.isCreateVersion(req.method ?? 'GET', req.url ?? '/') ? { refuseWith: 400 } : undefined,
      );
      try {
        const viaProxy = profile.client(proxy.url, { retryDelayMs: 1 });
        await expect(viaProxy.registerPrompt({ name, template: 'x' })).rejects.toThrow();
      } finally {
        await proxy.close();
      }
      await expect(registry.getPrompt(name)).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('trace links', () => {
    let traces: ReturnType<RegistryProfile['traces']>;
    beforeAll(() => {
      traces = profile.traces();
    });
    afterAll(() => traces.close());

    it('links prompt versions to a trace, as the registry then shows', async () => {
      const name = profile.name('trace');
      await registry.registerPrompt({ name, template: 'x {{ y }}' });
      const traceId = await traces.start();
      await expect(registry.linkPromptsToTrace(traceId, [{ name, version: 1 }])).resolves.toEqual({
        linked: true,
      });
      expect(await traces.linked(traceId, name, 1)).toBe(true);
    });
  });

  describe('resolveAliases (a batch)', () => {
    let names: string[];
    beforeAll(async () => {
      names = [profile.name('batch'), profile.name('batch'), profile.name('batch')];
      for (const name of names) {
        await registry.registerPrompt({ name, template: `one ${name} {{ x }}` });
        await registry.setAlias(name, 'production', 1);
      }
    });

    it('answers prompts whose alias is on their latest version', async () => {
      const counting = profile.client();
      const batch = await counting.resolveAliases(names, 'production');
      expect(counting.requestCount).toBe(profile.batchRequests.allLatest(names.length));
      const single = await Promise.all(names.map((n) => registry.resolveAlias(n, 'production')));
      expect(batch).toEqual(single);
    });

    it('answers the others too, in the order asked', async () => {
      const [first = '', second = '', third = ''] = names;
      await registry.registerPrompt({ name: second, template: 'two {{ x }}' });
      const counting = profile.client();
      const batch = await counting.resolveAliases([third, second, first], 'production');
      expect(counting.requestCount).toBe(profile.batchRequests.oneLagging(names.length));
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

    it('answers when every prompt lags', async () => {
      for (const name of names) await registry.registerPrompt({ name, template: `newer ${name}` });
      const counting = profile.client();
      const batch = await counting.resolveAliases(names, 'production');
      expect(counting.requestCount).toBe(profile.batchRequests.allLagging(names.length));
      expect(batch).toEqual(await Promise.all(names.map((n) => registry.resolveAlias(n, 'production'))));
    });

    it('fails naming the prompt that is missing or lacks the alias', async () => {
      const ghost = profile.name('ghost');
      await expect(registry.resolveAliases([...names, ghost], 'production')).rejects.toThrow(
        `Prompt '${ghost}' not found.`,
      );
      await expect(registry.resolveAliases(names, 'canary')).rejects.toThrow(/has no alias 'canary'/);
    });
  });
}
