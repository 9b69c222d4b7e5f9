/**
 * The dialect of MLflow's open-source tracking server, whose REST API has no prompt endpoints of
 * its own: a prompt is a registered model tagged `mlflow.prompt.is_prompt`, a version a model
 * version carrying the template in tags (oss-mapping.ts), and prompt-version links to a trace
 * go through `traces/link-prompts`. Every call sends what MLflow's Python SDK sends, so what one
 * writes the other reads the same; where the SDK spends extra round trips (five requests to load
 * a prompt by alias) we make one.
 */
import { InvalidInputError, NotFoundError, UnsupportedError } from '../../errors';
import { IS_PROMPT_TAG, validatePromptTagValue } from '../../prompts/metadata';
import type { RegistryDialect } from '../dialect';
import type { HttpClient } from '../http';
import {
  emptyResponse,
  modelVersionResponse,
  registeredModelResponse,
  searchModelVersionsResponse,
  searchRegisteredModelsResponse,
  type WireModelVersion,
  type WireRegisteredModel,
} from '../schemas';
import { isPromptModel, newestVersion, toPrompt, toPromptVersion, versionTags } from './oss-mapping';
import { createPromptResolver, PROMPT_FILTER, PROMPT_VERSION_FILTER } from './oss-resolve-prompts';

/** What MLflow's `register_prompt` sends as the (unused) source of a prompt version. */
const PROMPT_SOURCE = 'dummy-source';

const ALIAS_NOT_FOUND = /alias .* not found/i;

/** The length of MLflow's registered model name columns (`String(256)` in its SQL models). */
export const MAX_NAME_LENGTH = 256;

function sameTags(wire: WireModelVersion, expected: readonly { key: string; value: string }[]): boolean {
  const actual = new Map(wire.tags.map((t) => [t.key, t.value]));
  return actual.size === expected.length && expected.every((t) => actual.get(t.key) === t.value);
}

/**
 * A page token as MLflow issues them (base64 of `{"offset": N}`), or a refusal before any request:
 * MLflow answers some other tokens with a 500 (a JSON list) and others with a page from a
 * negative offset, where a caller who edited or mistyped a token should hear that it is invalid.
 */
export function checkedPageToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  let offset: unknown;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    if (decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded))
      offset = (decoded as { offset?: unknown }).offset;
  } catch {
    // Not base64 of JSON: refused below.
  }
  const valid =
    (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) ||
    (typeof offset === 'string' && /^[0-9]{1,15}$/.test(offset));
  if (!valid) {
    throw new InvalidInputError(
      'Invalid page token: pass the nextPageToken of an earlier page as it was given.',
    );
  }
  return token;
}

export function createOssDialect(http: HttpClient): RegistryDialect {
  const getRegisteredModel = async (operation: string, name: string): Promise<WireRegisteredModel> =>
    (
      await http.call({
        operation,
        method: 'GET',
        path: '/2.0/mlflow/registered-models/get',
        query: { name },
        schema: registeredModelResponse,
      })
    ).registered_model;

  async function getPromptModel(operation: string, name: string): Promise<WireRegisteredModel> {
    const model = await getRegisteredModel(operation, name);
    if (!isPromptModel(model)) {
      throw new InvalidInputError(`'${name}' is registered as a model, not a prompt.`, {
        registry: { operation },
      });
    }
    return model;
  }

  const mutate = async (operation: string, method: 'POST' | 'DELETE', path: string, body: object) => {
    await http.call({ operation, method, path: `/2.0/mlflow/${path}`, body, schema: emptyResponse });
  };

  const getVersion: RegistryDialect['getVersion'] = async (name, version) => {
    const operation = 'getPromptVersion';
    const response = await http.call({
      operation,
      method: 'GET',
      path: '/2.0/mlflow/model-versions/get',
      query: { name, version: String(version) },
      schema: modelVersionResponse,
    });
    return toPromptVersion(operation, response.model_version);
  };

  const { resolvePrompts, findPrompts } = createPromptResolver(http, getVersion);

  return {
    maxResults: { prompts: 1000, versions: 200_000 },
    copiesVersionTagsToPrompt: true,
    traceStore: 'otlp',
    tagKeyProblem: () => undefined,

    getPrompt: async (name, operation) => toPrompt(await getPromptModel(operation, name)),

    async inspectPrompt(name) {
      const operation = 'inspectPrompt';
      const model = await getPromptModel(operation, name);
      const newest = newestVersion(model);
      return { prompt: toPrompt(model), latest: newest && toPromptVersion(operation, newest) };
    },

    /** A lost answer is recovered by reading the prompt back. */
    async createPrompt(input) {
      const operation = 'createPrompt';
      // MLflow's name columns are String(256): SQLite keeps a longer name, MySQL and PostgreSQL
      // refuse it with a server error (retried as if the server were down). Refused here instead.
      if (input.name.length > MAX_NAME_LENGTH) {
        throw new InvalidInputError(
          `The prompt name is ${input.name.length} characters; MLflow stores at most ${MAX_NAME_LENGTH}.`,
        );
      }
      const tags = [
        { key: IS_PROMPT_TAG, value: 'true' },
        ...Object.entries(input.tags ?? {}).map(([key, value]) => ({
          key,
          value: validatePromptTagValue(key, value),
        })),
      ];
      const created = await http.call({
        operation,
        method: 'POST',
        path: '/2.0/mlflow/registered-models/create',
        body: { name: input.name, tags, ...(input.description ? { description: input.description } : {}) },
        schema: registeredModelResponse,
        reconcile: async () => {
          try {
            return { registered_model: await getPromptModel(operation, input.name) };
          } catch (error) {
            if (error instanceof NotFoundError) return undefined;
            throw error;
          }
        },
      });
      return toPrompt(created.registered_model);
    },

    async createVersion(version, knownLatest) {
      const operation = 'createPromptVersion';
      const tags = versionTags(version);
      const description = version.commitMessage ? { description: version.commitMessage } : {};
      const created = await http.call({
        operation,
        method: 'POST',
        path: '/2.0/mlflow/model-versions/create',
        body: { name: version.name, source: PROMPT_SOURCE, tags, ...description },
        schema: modelVersionResponse,
        // A create whose answer was lost may still have happened: adopt a newer version with
        // exactly our content instead of writing a duplicate.
        reconcile: async () => {
          const model = await getRegisteredModel(operation, version.name);
          const mine = model.latest_versions.find(
            (v) =>
              Number(v.version) > knownLatest &&
              sameTags(v, tags) &&
              (v.description ?? '') === (version.commitMessage ?? ''),
          );
          return mine ? { model_version: mine } : undefined;
        },
      });
      return toPromptVersion(operation, created.model_version);
    },

    getVersion,

    async getVersionByAlias(name, alias) {
      const operation = 'resolveAlias';
      try {
        const response = await http.call({
          operation,
          method: 'GET',
          path: '/2.0/mlflow/registered-models/alias',
          query: { name, alias },
          schema: modelVersionResponse,
        });
        return toPromptVersion(operation, response.model_version);
      } catch (error) {
        // MLflow answers a missing alias with HTTP 400 INVALID_PARAMETER_VALUE; it is a "not found".
        if (error instanceof InvalidInputError && error.registry && ALIAS_NOT_FOUND.test(error.message)) {
          throw new NotFoundError(`Prompt '${name}' has no alias '${alias}'.`, {
            registry: error.registry,
            cause: error,
          });
        }
        throw error;
      }
    },

    resolvePrompts,
    findPrompts,

    async searchPrompts(filter, page) {
      const response = await http.call({
        operation: 'searchPrompts',
        method: 'GET',
        path: '/2.0/mlflow/registered-models/search',
        query: {
          filter: filter?.trim() ? `${PROMPT_FILTER} AND ${filter.trim()}` : PROMPT_FILTER,
          max_results: page.maxResults,
          page_token: checkedPageToken(page.pageToken),
        },
        schema: searchRegisteredModelsResponse,
      });
      return {
        // The filter already restricts to prompts; this guards against a server that ignores it.
        items: response.registered_models.filter(isPromptModel).map(toPrompt),
        nextPageToken: response.next_page_token || undefined,
      };
    },

    async searchVersions(name, page) {
      const operation = 'searchPromptVersions';
      const response = await http.call({
        operation,
        method: 'GET',
        path: '/2.0/mlflow/model-versions/search',
        query: {
          // The name passed validatePromptName, so it holds no quote to escape.
          filter: `name = '${name}' AND ${PROMPT_VERSION_FILTER}`,
          max_results: page.maxResults,
          order_by: 'version_number DESC',
          page_token: checkedPageToken(page.pageToken),
        },
        schema: searchModelVersionsResponse,
      });
      return {
        items: response.model_versions.map((v) => toPromptVersion(operation, v)),
        nextPageToken: response.next_page_token || undefined,
      };
    },

    setAlias: (name, alias, version) =>
      mutate('setAlias', 'POST', 'registered-models/alias', { name, alias, version: String(version) }),
    deleteAlias: (name, alias) => mutate('deleteAlias', 'DELETE', 'registered-models/alias', { name, alias }),
    setPromptTag: async (name, key, value) =>
      mutate('setPromptTag', 'POST', 'registered-models/set-tag', {
        name,
        key,
        value: validatePromptTagValue(key, value),
      }),
    deletePromptTag: (name, key) =>
      mutate('deletePromptTag', 'DELETE', 'registered-models/delete-tag', { name, key }),
    setVersionTag: (name, version, key, value) =>
      mutate('setVersionTag', 'POST', 'model-versions/set-tag', {
        name,
        version: String(version),
        key,
        value,
      }),
    deletePrompt: (name) => mutate('deletePrompt', 'DELETE', 'registered-models/delete', { name }),

    async linkPromptsToTrace(traceId, versions) {
      try {
        await http.call({
          operation: 'linkPromptsToTrace',
          method: 'POST',
          path: '/2.0/mlflow/traces/link-prompts',
          body: {
            trace_id: traceId,
            prompt_versions: versions.map((v) => ({ name: v.name, version: String(v.version) })),
          },
          schema: emptyResponse,
          // A server that refuses to link a pair twice: after a lost answer, that means linked.
          acceptOnResend: (error) => (error instanceof InvalidInputError ? {} : undefined),
        });
        return { linked: true };
      } catch (error) {
        // Servers before MLflow 3.7 have no such route; linking is best effort there.
        if (error instanceof UnsupportedError) return { linked: false };
        throw error;
      }
    },
  };
}
