import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lib/errors';
import {
  createRegistryClient,
  type MissingPrompt,
  type RegistryClient,
  type ResolvedPrompt,
} from '../../lib/registry';
import { MAX_RANGE_ROWS, rangeGroups } from '../../lib/registry/dialects/oss-resolve-prompts';

const ORIGIN = 'http://registry.test:5000';
const MODELS_SEARCH = '/api/2.0/mlflow/registered-models/search';
const VERSIONS_SEARCH = '/api/2.0/mlflow/model-versions/search';
const VERSION_GET = '/api/2.0/mlflow/model-versions/get';

/** The registry's contents: each prompt's versions (1..latest, less any deleted) and aliases. */
interface StoredPrompt {
  latest: number;
  aliases: Record<string, number>;
  deleted?: number[];
}
let store: Map<string, StoredPrompt>;
/** The filters (or get parameters) each endpoint was asked with, in order. */
let asked: { models: string[]; versions: string[]; gets: string[] };
let agent: MockAgent;

const wireVersion = (name: string, n: number) => ({
  name,
  version: String(n),
  creation_timestamp: 1,
  last_updated_timestamp: 2,
  description: `v${n}`,
  status: 'READY',
  tags: [
    { key: 'mlflow.prompt.is_prompt', value: 'true' },
    { key: '_mlflow_prompt_type', value: 'text' },
    { key: 'mlflow.prompt.text', value: `${name} v${n} {{query}}` },
  ],
});

const exists = (prompt: StoredPrompt, n: number) =>
  n >= 1 && n <= prompt.latest && !prompt.deleted?.includes(n);

const wireModel = (name: string, prompt: StoredPrompt) => ({
  name,
  creation_timestamp: 1,
  last_updated_timestamp: 2,
  tags: [
    { key: 'mlflow.prompt.is_prompt', value: 'true' },
    { key: 'team', value: 'health' },
  ],
  aliases: Object.entries(prompt.aliases).map(([alias, version]) => ({ alias, version: String(version) })),
  latest_versions: [wireVersion(name, prompt.latest)],
});

function query(path: string): URLSearchParams {
  return new URLSearchParams(path.slice(path.indexOf('?') + 1));
}

/** The names in a filter's `name IN ('a', 'b')`. */
function namesIn(filter: string): string[] {
  const list = /name IN \(([^)]*)\)/.exec(filter)?.[1] ?? '';
  return [...list.matchAll(/'([^']*)'/g)].map((m) => m[1] as string);
}

/** Answers `times` searches of registered models as MLflow does (only prompts named in the filter). */
function serveModelSearch(times = 1) {
  agent
    .get(ORIGIN)
    .intercept({ path: (p) => p.startsWith(`${MODELS_SEARCH}?`), method: 'GET' })
    .reply(({ path }) => {
      const filter = query(path).get('filter') ?? '';
      asked.models.push(filter);
      const registered_models = namesIn(filter).flatMap((name) => {
        const prompt = store.get(name);
        return prompt ? [wireModel(name, prompt)] : [];
      });
      return { statusCode: 200, data: { registered_models } };
    })
    .times(times);
}

/** Answers `times` version searches over `version_number >= low AND version_number <= high`. */
function serveVersionSearch(times = 1) {
  agent
    .get(ORIGIN)
    .intercept({ path: (p) => p.startsWith(`${VERSIONS_SEARCH}?`), method: 'GET' })
    .reply(({ path }) => {
      const filter = query(path).get('filter') ?? '';
      asked.versions.push(filter);
      const range = /version_number >= (\d+) AND version_number <= (\d+)/.exec(filter);
      const low = Number(range?.[1]);
      const high = Number(range?.[2]);
      const model_versions = namesIn(filter).flatMap((name) => {
        const prompt = store.get(name);
        if (!prompt) return [];
        const versions = [];
        for (let n = low; n <= high; n += 1) if (exists(prompt, n)) versions.push(wireVersion(name, n));
        return versions;
      });
      return { statusCode: 200, data: { model_versions } };
    })
    .times(times);
}

/** Answers `times` gets of one version, with MLflow's 404 for a missing one. */
function serveVersionGet(times = 1) {
  agent
    .get(ORIGIN)
    .intercept({ path: (p) => p.startsWith(`${VERSION_GET}?`), method: 'GET' })
    .reply<object>(({ path }) => {
      const params = query(path);
      const name = params.get('name') ?? '';
      const n = Number(params.get('version'));
      asked.gets.push(`${name}/${n}`);
      const prompt = store.get(name);
      if (!prompt || !exists(prompt, n)) {
        return {
          statusCode: 404,
          data: {
            error_code: 'RESOURCE_DOES_NOT_EXIST',
            message: `Model Version (name=${name}, version=${n}) not found`,
          },
        };
      }
      return { statusCode: 200, data: { model_version: wireVersion(name, n) } };
    })
    .times(times);
}

function client(): RegistryClient {
  return createRegistryClient({
    trackingUri: ORIGIN,
    dispatcher: agent,
    sleep: async () => undefined,
    random: () => 0,
  });
}

const isMissing = (r: ResolvedPrompt | MissingPrompt): r is MissingPrompt => 'missing' in r;
const versionOf = (r: ResolvedPrompt | MissingPrompt | undefined) =>
  r === undefined || isMissing(r) ? undefined : r.version.version;

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  store = new Map();
  asked = { models: [], versions: [], gets: [] };
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

describe('rangeGroups', () => {
  it('puts close versions in one group, sorted by version, members as input indexes', () => {
    expect(
      rangeGroups([
        { wanted: 9, latest: 10 },
        { wanted: 3, latest: 4 },
        { wanted: 5, latest: 12 },
      ]),
    ).toEqual([{ low: 3, high: 9, members: [1, 2, 0] }]);
  });

  it(`keeps a group at exactly MAX_RANGE_ROWS (${MAX_RANGE_ROWS}) rows`, () => {
    // Versions 1..100 of each of the two prompts.
    expect(
      rangeGroups([
        { wanted: 1, latest: 100 },
        { wanted: 100, latest: 100 },
      ]),
    ).toEqual([{ low: 1, high: 100, members: [0, 1] }]);
  });

  it('starts a new group when the range would hold more than MAX_RANGE_ROWS rows', () => {
    expect(
      rangeGroups([
        { wanted: 1, latest: 101 },
        { wanted: 101, latest: 101 },
      ]),
    ).toEqual([
      { low: 1, high: 1, members: [0] },
      { low: 101, high: 101, members: [1] },
    ]);
  });

  it('counts only the versions a prompt has in the range', () => {
    // The first prompt stops at version 2, so 1..150 holds 2 + 150 rows.
    expect(
      rangeGroups([
        { wanted: 1, latest: 2 },
        { wanted: 150, latest: 150 },
      ]),
    ).toEqual([{ low: 1, high: 150, members: [0, 1] }]);
  });

  it('bounds every group it makes', () => {
    const plans = Array.from({ length: 40 }, (_, i) => ({ wanted: 1 + i * 37, latest: 1_500 }));
    const groups = rangeGroups(plans);
    expect(groups.flatMap((g) => g.members).sort((a, b) => a - b)).toEqual(plans.map((_, i) => i));
    for (const group of groups) {
      const rows = group.members.reduce(
        (sum, i) => sum + Math.min(group.high, plans[i]?.latest ?? 0) - group.low + 1,
        0,
      );
      expect(rows).toBeLessThanOrEqual(MAX_RANGE_ROWS);
    }
    expect(groups.length).toBeGreaterThan(1);
  });

  it('returns no group for no plan', () => {
    expect(rangeGroups([])).toEqual([]);
  });
});

describe('resolvePrompts', () => {
  const EIGHT = [
    'orchestrator',
    'intent_classifier',
    'synthesizer',
    'cost_worker',
    'security_worker',
    'performance_worker',
    'reliability_worker',
    'quality_worker',
  ];

  it('resolves 8 prompts on their latest version in exactly one request', async () => {
    EIGHT.forEach((name, i) => {
      store.set(name, { latest: i + 1, aliases: { production: i + 1 } });
    });
    serveModelSearch();
    const registry = client();
    const resolved = await registry.resolvePrompts(EIGHT.map((name) => ({ name, alias: 'production' })));
    expect(registry.requestCount).toBe(1);
    expect(namesIn(asked.models[0] ?? '')).toEqual(EIGHT);
    expect(asked.models[0]).toContain("tags.`mlflow.prompt.is_prompt` = 'true'");
    expect(resolved.map((r) => [r.target.name, r.version.version])).toEqual(EIGHT.map((n, i) => [n, i + 1]));
    expect(resolved[0]).toMatchObject({
      version: { template: 'orchestrator v1 {{query}}', aliases: ['production'], variables: ['query'] },
      promptTags: { team: 'health' },
    });
  });

  it('fetches the versions of prompts behind their latest in one range search when they are close', async () => {
    store.set('a', { latest: 5, aliases: { production: 4 } });
    store.set('b', { latest: 7, aliases: { production: 6 } });
    store.set('c', { latest: 3, aliases: { production: 3 } });
    serveModelSearch();
    serveVersionSearch();
    const registry = client();
    const resolved = await registry.resolvePrompts(
      ['a', 'b', 'c'].map((name) => ({ name, alias: 'production' })),
    );
    expect(registry.requestCount).toBe(2);
    expect(asked.versions).toHaveLength(1);
    expect(namesIn(asked.versions[0] ?? '')).toEqual(['a', 'b']);
    expect(asked.versions[0]).toContain('version_number >= 4 AND version_number <= 6');
    expect(resolved.map((r) => `${r.target.name}:${r.version.version}`)).toEqual(['a:4', 'b:6', 'c:3']);
    expect(resolved[1]?.version).toMatchObject({ template: 'b v6 {{query}}', aliases: ['production'] });
  });

  it('makes one range search per group when the versions are far apart', async () => {
    store.set('a', { latest: 500, aliases: { production: 1 } });
    store.set('b', { latest: 3, aliases: { production: 2 } });
    store.set('c', { latest: 450, aliases: { production: 400 } });
    store.set('d', { latest: 402, aliases: { production: 401 } });
    serveModelSearch();
    serveVersionSearch(2);
    const registry = client();
    const resolved = await registry.resolvePrompts(
      ['a', 'b', 'c', 'd'].map((name) => ({ name, alias: 'production' })),
    );
    expect(registry.requestCount).toBe(3);
    expect(
      asked.versions
        .map((f) => [namesIn(f), /version_number >= \d+ AND version_number <= \d+/.exec(f)?.[0]])
        .sort(),
    ).toEqual([
      [['a', 'b'], 'version_number >= 1 AND version_number <= 2'],
      [['c', 'd'], 'version_number >= 400 AND version_number <= 401'],
    ]);
    expect(resolved.map((r) => r.version.version)).toEqual([1, 2, 400, 401]);
  });

  it('asks for a lone lagging version directly', async () => {
    store.set('a', { latest: 9, aliases: { production: 2 } });
    store.set('b', { latest: 4, aliases: { production: 4 } });
    serveModelSearch();
    serveVersionGet();
    const registry = client();
    const resolved = await registry.resolvePrompts([
      { name: 'a', alias: 'production' },
      { name: 'b', alias: 'production' },
    ]);
    expect(registry.requestCount).toBe(2);
    expect(asked.gets).toEqual(['a/2']);
    expect(resolved.map((r) => r.version.version)).toEqual([2, 4]);
  });

  it('resolves each target by its own alias or version, even for the same prompt', async () => {
    store.set('a', { latest: 5, aliases: { production: 4, staging: 5 } });
    serveModelSearch();
    serveVersionSearch();
    const registry = client();
    const resolved = await registry.resolvePrompts([
      { name: 'a', alias: 'production' },
      { name: 'a', version: 2 },
      { name: 'a', alias: 'latest' },
      { name: 'a', alias: 'staging' },
    ]);
    expect(registry.requestCount).toBe(2);
    expect(namesIn(asked.models[0] ?? '')).toEqual(['a']);
    expect(namesIn(asked.versions[0] ?? '')).toEqual(['a']);
    expect(resolved.map((r) => r.version.version)).toEqual([4, 2, 5, 5]);
    expect(resolved.map((r) => r.target)).toEqual([
      { name: 'a', alias: 'production' },
      { name: 'a', version: 2 },
      { name: 'a', alias: 'latest' },
      { name: 'a', alias: 'staging' },
    ]);
    expect(resolved[0]?.version.aliases).toEqual(['production']);
    expect(resolved[1]?.version.aliases).toEqual([]);
    expect(resolved[2]?.version.aliases).toEqual(['staging']);
  });

  it('fails the batch with NotFoundError when a pinned version is missing from its range, with no extra request', async () => {
    store.set('a', { latest: 5, aliases: {}, deleted: [3] });
    store.set('b', { latest: 5, aliases: { production: 4 } });
    serveModelSearch();
    serveVersionSearch();
    const error = await client()
      .resolvePrompts([
        { name: 'a', version: 3 },
        { name: 'b', alias: 'production' },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'NOT_FOUND' });
    expect((error as Error).message).toContain("Prompt 'a' version 3 not found.");
    expect(asked.gets).toEqual([]);
  });

  it('with allowMissing, reports the missing version for its target and resolves the others', async () => {
    store.set('a', { latest: 5, aliases: {}, deleted: [3] });
    store.set('b', { latest: 5, aliases: { production: 4 } });
    store.set('c', { latest: 2, aliases: { production: 2 } });
    serveModelSearch();
    serveVersionSearch();
    const resolved = await client().resolvePrompts(
      [
        { name: 'a', version: 3 },
        { name: 'b', alias: 'production' },
        { name: 'c', alias: 'production' },
      ],
      { allowMissing: true },
    );
    expect(resolved).toHaveLength(3);
    const [a, b, c] = resolved;
    expect(a).toEqual({ target: { name: 'a', version: 3 }, missing: expect.any(NotFoundError) });
    expect(versionOf(b)).toBe(4);
    expect(versionOf(c)).toBe(2);
  });

  it('fails on an unknown prompt or alias before any further request, or reports them with allowMissing', async () => {
    store.set('a', { latest: 5, aliases: { production: 2 } });
    serveModelSearch(2);
    const registry = client();
    const targets = [
      { name: 'a', alias: 'production' },
      { name: 'ghost', alias: 'production' },
      { name: 'a', alias: 'canary' },
    ];
    const error = await registry.resolvePrompts(targets).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe("Prompt 'ghost' not found.");
    expect(registry.requestCount).toBe(1);

    serveVersionGet();
    const resolved = await registry.resolvePrompts(targets, { allowMissing: true });
    expect(versionOf(resolved[0])).toBe(2);
    expect(resolved.slice(1).map((r) => isMissing(r) && r.missing.message)).toEqual([
      "Prompt 'ghost' not found.",
      "Prompt 'a' has no alias 'canary'.",
    ]);
  });
});
