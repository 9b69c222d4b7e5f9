/**
 * The dialect of Databricks Unity Catalog's prompt API (`/api/2.0/mlflow/unity-catalog/prompts`,
 * MLflow's registry URI `databricks-uc`), sending what MLflow's UC store sends (uc-mapping.ts).
 *
 * Where the API makes this dialect differ from the tracking server's:
 * - A prompt does not list its versions, so "the latest version" is asked for as MLflow's SDK
 *   asks: the alias `latest` (whether the workspace resolves it is unconfirmed; README).
 *   getPrompt and inspectPrompt therefore take two requests, sent together.
 * - There is no batch read: resolvePrompts asks, all at once, for each prompt (its tags) and each
 *   target's version: 2 requests per prompt in one round trip, where the tracking server takes 1–2
 *   in all.
 * - Search is scoped to one catalog and schema (the filter's `catalog = '…' AND schema = '…'`, or
 *   the dialect's own), as MLflow's SDK requires.
 * - A prompt with versions cannot be deleted (MLflow's SDK checks first, and so do we).
 * - Tag keys hold no dots: ours travel underscored; a user's dotted key is refused before any request.
 * - Registering a version does not copy its tags onto the prompt (MLflow's SDK does so only on
 *   the tracking server).
 */
import { InvalidInputError, NotFoundError, UnsupportedError } from '../../errors';
import type { MissingPrompt, RegistryDialect, ResolvedPrompt } from '../dialect';
import type { HttpClient, HttpMethod } from '../http';
import type { PromptVersion } from '../prompt-version';
import { emptyResponse } from '../schemas';
import { TAG_KEYS, ucTagKeyProblem, wireTagKey } from '../tag-keys';
import {
  sameVersion,
  toPrompt,
  toPromptVersion,
  toWireTags,
  ucPrompt,
  ucPromptVersion,
  ucSearchPrompts,
  ucSearchVersions,
  versionBody,
} from './uc-mapping';

const ROOT = '/2.0/mlflow/unity-catalog';
/** MLflow's SDK links at most this many prompt versions per request. */
const LINK_BATCH = 25;
const CATALOG = /catalog\s*=\s*['"]([^'"]+)['"]/i;
const SCHEMA = /schema\s*=\s*['"]([^'"]+)['"]/i;

export interface UcDialectOptions {
  /** Where searches look when the filter names no catalog and schema (PROMPT_CATALOG, PROMPT_SCHEMA). */
  readonly catalog?: string | undefined;
  readonly schema?: string | undefined;
}

/** Path segments go in as MLflow's SDK puts them (names and versions literally); encoded here for safety. */
const seg = encodeURIComponent;

/** Splits a search filter as MLflow's SDK does: the catalog and schema clauses out, the rest kept. */
export function splitCatalogFilter(
  filter: string | undefined,
  defaults: UcDialectOptions,
): { catalog_name: string; schema_name: string; rest: string | undefined } {
  const text = filter?.trim() ?? '';
  const catalog = CATALOG.exec(text)?.[1] ?? defaults.catalog;
  const schema = SCHEMA.exec(text)?.[1] ?? defaults.schema;
  if (!catalog || !schema) {
    throw new InvalidInputError(
      "Unity Catalog searches prompts in one catalog and schema: set PROMPT_CATALOG and PROMPT_SCHEMA, or put catalog = '<catalog>' AND schema = '<schema>' in the filter.",
    );
  }
  const rest = text
    .split(/\s+AND\s+/i)
    .map((part) => part.trim())
    .filter((part) => part !== '' && !/^catalog\s*=/i.test(part) && !/^schema\s*=/i.test(part))
    .join(' AND ');
  return { catalog_name: catalog, schema_name: schema, rest: rest === '' ? undefined : rest };
}

export function createUcDialect(http: HttpClient, options: UcDialectOptions = {}): RegistryDialect {
  const promptPath = (name: string) => `${ROOT}/prompts/${seg(name)}`;

  const mutate = async (operation: string, method: HttpMethod, path: string, body: object) => {
    await http.call({ operation, method, path, body, schema: emptyResponse });
  };

  const getPromptWire = (operation: string, name: string) =>
    http.call({ operation, method: 'GET', path: promptPath(name), query: { name }, schema: ucPrompt });

  const getVersion = async (name: string, version: number, operation = 'getPromptVersion') =>
    toPromptVersion(
      operation,
      await http.call({
        operation,
        method: 'GET',
        path: `${promptPath(name)}/versions/${version}`,
        query: { name, version: String(version) },
        schema: ucPromptVersion,
      }),
    );

  const byAliasWire = (name: string, alias: string, operation: string) =>
    http.call({
      operation,
      method: 'GET',
      path: `${promptPath(name)}/versions/by-alias/${seg(alias)}`,
      query: { name, alias },
      schema: ucPromptVersion,
    });

  /** The highest version, or undefined for a prompt without versions. */
  const latestOf = async (name: string, operation: string) => {
    try {
      return toPromptVersion(operation, await byAliasWire(name, 'latest', operation));
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  };

  /** The prompt and its latest version, asked for together; the prompt's absence wins. */
  async function promptState(name: string, operation: string) {
    const [prompt, latest] = await Promise.allSettled([
      getPromptWire(operation, name),
      latestOf(name, operation),
    ]);
    if (prompt.status === 'rejected') throw prompt.reason;
    if (latest.status === 'rejected') throw latest.reason;
    return { prompt: toPrompt(prompt.value, latest.value?.version), latest: latest.value };
  }

  async function searchVersions(name: string, page: { maxResults: number; pageToken: string | undefined }) {
    const operation = 'searchPromptVersions';
    const response = await http.call({
      operation,
      method: 'POST',
      path: `${promptPath(name)}/versions/search`,
      body: { name, max_results: page.maxResults, ...(page.pageToken ? { page_token: page.pageToken } : {}) },
      schema: ucSearchVersions,
    });
    return {
      items: response.prompt_versions.map((v) => toPromptVersion(operation, v)),
      nextPageToken: response.next_page_token || undefined,
    };
  }

  const notFound = (message: string, operation: string) =>
    new NotFoundError(message, { registry: { operation } });

  return {
    maxResults: { prompts: 1000, versions: 1000 },
    copiesVersionTagsToPrompt: false,
    traceStore: 'artifacts',
    // Our own keys arrive dotted and travel underscored; an underscored one from a caller would
    // read back as ours (a forged content hash, a move in progress): refused.
    tagKeyProblem: (key) =>
      key.startsWith(TAG_KEYS.uc.ownPrefix)
        ? `'${TAG_KEYS.uc.ownPrefix}*' keys are promptops' own on Unity Catalog`
        : ucTagKeyProblem(wireTagKey('uc', key)),

    getPrompt: async (name, operation) => (await promptState(name, operation)).prompt,
    inspectPrompt: (name) => promptState(name, 'inspectPrompt'),

    async createPrompt(input) {
      const operation = 'createPrompt';
      const tags = toWireTags(input.tags ?? {});
      const created = await http.call({
        operation,
        method: 'POST',
        path: `${ROOT}/prompts`,
        body: {
          name: input.name,
          prompt: {
            name: input.name,
            ...(input.description ? { description: input.description } : {}),
            ...(tags.length > 0 ? { tags } : {}),
          },
        },
        schema: ucPrompt,
        // A re-sent create refused as existing: the first one took effect when the prompt reads back.
        reconcile: async () => {
          try {
            return await getPromptWire(operation, input.name);
          } catch (error) {
            if (error instanceof NotFoundError) return undefined;
            throw error;
          }
        },
      });
      return toPrompt(created, undefined);
    },

    async createVersion(version, knownLatest) {
      const operation = 'createPromptVersion';
      const body = versionBody(version);
      const created = await http.call({
        operation,
        method: 'POST',
        path: `${promptPath(version.name)}/versions`,
        body: { name: version.name, prompt_version: body },
        schema: ucPromptVersion,
        // A create whose answer was lost: a newer latest version with exactly our content is ours.
        reconcile: async () => {
          try {
            const latest = await byAliasWire(version.name, 'latest', operation);
            return Number(latest.version) > knownLatest && sameVersion(latest, body) ? latest : undefined;
          } catch (error) {
            if (error instanceof NotFoundError) return undefined;
            throw error;
          }
        },
      });
      return toPromptVersion(operation, created);
    },

    getVersion: (name, version) => getVersion(name, version),

    async getVersionByAlias(name, alias) {
      const operation = 'resolveAlias';
      try {
        return toPromptVersion(operation, await byAliasWire(name, alias, operation));
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        throw new NotFoundError(`Prompt '${name}' has no alias '${alias}' (or does not exist).`, {
          registry: error.registry ?? { operation },
          cause: error,
        });
      }
    },

    async resolvePrompts(targets, { allowMissing }) {
      const operation = 'resolvePrompts';
      const names = [...new Set(targets.map((t) => t.name))];
      const prompts = new Map(
        names.map((name) => [name, getPromptWire(operation, name).then(toPromptOrMissing, missingOn404)]),
      );
      const versions = targets.map((target) =>
        (target.version !== undefined
          ? getVersion(target.name, target.version, operation)
          : byAliasWire(target.name, target.alias as string, operation).then((v) =>
              toPromptVersion(operation, v),
            )
        ).then((v): PromptVersion | undefined => v, missingOn404),
      );
      const settled = await Promise.all([Promise.all([...prompts.values()]), Promise.all(versions)]);
      const promptOf = new Map(names.map((name, i) => [name, settled[0][i]]));
      const results: (ResolvedPrompt | MissingPrompt)[] = [];
      for (const [i, target] of targets.entries()) {
        const prompt = promptOf.get(target.name);
        const version = settled[1][i];
        if (prompt !== undefined && version !== undefined) {
          results.push({ target, version, promptTags: prompt.tags });
          continue;
        }
        const what =
          prompt === undefined
            ? `Prompt '${target.name}' not found.`
            : target.version !== undefined
              ? `Prompt '${target.name}' version ${target.version} not found.`
              : target.alias?.toLowerCase() === 'latest'
                ? `Prompt '${target.name}' has no versions.`
                : `Prompt '${target.name}' has no alias '${target.alias}'.`;
        const missing = notFound(what, operation);
        if (!allowMissing) throw missing;
        results.push({ target, missing });
      }
      return results;
    },

    async findPrompts(names) {
      const found = await Promise.all(
        names.map((name) => getPromptWire('findPrompts', name).then(toPromptOrMissing, missingOn404)),
      );
      return found.filter((p) => p !== undefined);
    },

    async searchPrompts(filter, page) {
      const { catalog_name, schema_name, rest } = splitCatalogFilter(filter, options);
      const response = await http.call({
        operation: 'searchPrompts',
        method: 'POST',
        path: `${ROOT}/prompts/search`,
        body: {
          catalog_schema: { catalog_name, schema_name },
          ...(rest ? { filter: rest } : {}),
          max_results: page.maxResults,
          ...(page.pageToken ? { page_token: page.pageToken } : {}),
        },
        schema: ucSearchPrompts,
      });
      return {
        items: response.prompts.map((p) => toPrompt(p, undefined)),
        nextPageToken: response.next_page_token || undefined,
      };
    },

    searchVersions,

    setAlias: (name, alias, version) =>
      mutate('setAlias', 'POST', `${promptPath(name)}/aliases/${seg(alias)}`, {
        name,
        alias,
        version: String(version),
      }),
    async deleteAlias(name, alias) {
      try {
        await mutate('deleteAlias', 'DELETE', `${promptPath(name)}/aliases/${seg(alias)}`, { name, alias });
      } catch (error) {
        // As on the tracking server, deleting an alias that is not there is done, not a failure;
        // deleting one of a prompt that is not there is (the prompt's NotFoundError).
        if (!(error instanceof NotFoundError)) throw error;
        await getPromptWire('deleteAlias', name);
      }
    },
    setPromptTag: (name, key, value) =>
      mutate('setPromptTag', 'POST', `${promptPath(name)}/tags`, { name, key: wireTagKey('uc', key), value }),
    deletePromptTag: (name, key) => {
      const wire = wireTagKey('uc', key);
      return mutate('deletePromptTag', 'DELETE', `${promptPath(name)}/tags/${seg(wire)}`, {
        name,
        key: wire,
      });
    },
    setVersionTag: (name, version, key, value) =>
      mutate('setVersionTag', 'POST', `${promptPath(name)}/versions/${version}/tags`, {
        name,
        version: String(version),
        key: wireTagKey('uc', key),
        value,
      }),

    async deletePrompt(name) {
      // As MLflow's SDK does on Unity Catalog: a prompt with versions is refused, before any delete.
      const versions = await searchVersions(name, { maxResults: 1, pageToken: undefined });
      if (versions.items.length > 0) {
        throw new InvalidInputError(
          `Cannot delete prompt '${name}': Unity Catalog keeps a prompt that still has versions; delete its versions first.`,
          { registry: { operation: 'deletePrompt' } },
        );
      }
      await mutate('deletePrompt', 'DELETE', promptPath(name), { name });
    },

    async linkPromptsToTrace(traceId, versions) {
      try {
        for (let i = 0; i < versions.length; i += LINK_BATCH) {
          await mutate('linkPromptsToTrace', 'POST', `${ROOT}/prompt-versions/links-to-traces`, {
            prompt_versions: versions
              .slice(i, i + LINK_BATCH)
              .map((v) => ({ name: v.name, version: String(v.version) })),
            trace_ids: [traceId],
          });
        }
        return { linked: true };
      } catch (error) {
        if (error instanceof UnsupportedError) return { linked: false };
        throw error;
      }
    },
  };
}

function toPromptOrMissing(wire: Parameters<typeof toPrompt>[0]) {
  return toPrompt(wire, undefined);
}

/** A NotFoundError becomes `undefined` (reported per target); any other failure stays one. */
function missingOn404(error: unknown): undefined {
  if (error instanceof NotFoundError) return undefined;
  throw error;
}
