/**
 * The project's one client for the MLflow Prompt Registry (open-source tracking server REST API).
 * Every call sends what MLflow's Python SDK sends, so what one writes the other reads the same;
 * where the SDK spends extra round trips (five requests to load a prompt by alias) we make one.
 */
import { AlreadyExistsError, InvalidInputError, NotFoundError, UnsupportedError } from '../errors';
import {
  type PromptRef,
  parsePromptUri,
  validateAliasName,
  validatePromptName,
  validateVersion,
  validateWritableAlias,
} from '../prompts/names';
import { createHttpClient, type HttpClientOptions } from './http';
import {
  IS_PROMPT_TAG,
  isPromptModel,
  type JsonObject,
  type NewVersion,
  newestVersion,
  type Prompt,
  type PromptVersion,
  promptTextTagValue,
  toPrompt,
  toPromptVersion,
  validateTagKey,
  validateTagValue,
  validateTemplate,
  validateUserTags,
  versionTags,
} from './prompt-version';
import {
  createPromptResolver,
  type MissingPrompt,
  PROMPT_FILTER,
  PROMPT_VERSION_FILTER,
  type PromptTarget,
  type ResolvedPrompt,
  type ResolveOptions,
} from './resolve-prompts';
import {
  emptyResponse,
  modelVersionResponse,
  registeredModelResponse,
  searchModelVersionsResponse,
  searchRegisteredModelsResponse,
  type WireModelVersion,
  type WireRegisteredModel,
} from './schemas';
import { createTracking, type Tracking } from './tracking';

/** What MLflow's `register_prompt` sends as the (unused) source of a prompt version. */
const PROMPT_SOURCE = 'dummy-source';

export interface RegisterPromptInput extends NewVersion {
  readonly name: string;
  readonly commitMessage?: string | undefined;
}

export interface CreatePromptInput {
  readonly name: string;
  /** MLflow's SDK uses the first commit message as the prompt's description. */
  readonly description?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

export interface PromptState {
  readonly prompt: Prompt;
  readonly latest: PromptVersion | undefined;
}

export interface SearchOptions {
  /** An MLflow search filter, ANDed to the prompt filter, e.g. `name LIKE 'health.%'`. */
  readonly filter?: string | undefined;
  readonly maxResults?: number | undefined;
  readonly pageToken?: string | undefined;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string | undefined;
}

export interface VersionRef {
  readonly name: string;
  readonly version: number;
}

export interface LinkResult {
  /** False when the server has no link endpoint (MLflow before 3.7). */
  readonly linked: boolean;
}

/** The project's one client for the MLflow server: the prompt registry, and the tracking parts the agent needs. */
export interface RegistryClient extends Tracking {
  readonly trackingUri: string;
  /** HTTP requests sent so far. */
  readonly requestCount: number;

  /** Creates a prompt without versions; AlreadyExistsError if the name is taken. */
  createPrompt(input: CreatePromptInput): Promise<Prompt>;
  /** Creates the prompt if needed, then a new version; returns that version. */
  registerPrompt(input: RegisterPromptInput): Promise<PromptVersion>;
  /**
   * Creates a version of an existing prompt, nothing else (no prompt-level tag copying).
   * `latestVersion`, when known, lets a create whose answer was lost be recognised without a read.
   */
  createPromptVersion(
    input: RegisterPromptInput,
    options?: { latestVersion?: number },
  ): Promise<PromptVersion>;
  /** One request: the prompt with its aliases, and its latest version with template and tags. */
  inspectPrompt(name: string): Promise<PromptState>;
  getPrompt(name: string): Promise<Prompt>;
  getPromptVersion(name: string, version: number): Promise<PromptVersion>;
  /** One request: the version an alias points at, with its template. `latest` is the highest. */
  resolveAlias(name: string, alias: string): Promise<PromptVersion>;
  /**
   * Many prompts by one alias, in the order given, in one or two requests: a search answers every
   * prompt whose alias is on its latest version; one more search fetches the others when the
   * versions in their range are few (else a few range searches at once; see resolve-prompts.ts).
   */
  resolveAliases(names: readonly string[], alias: string): Promise<PromptVersion[]>;
  /** Many prompts, each by its own alias or pinned version, with their prompt tags (resolve-prompts.ts). */
  resolvePrompts(targets: readonly PromptTarget[]): Promise<ResolvedPrompt[]>;
  resolvePrompts(
    targets: readonly PromptTarget[],
    options: ResolveOptions,
  ): Promise<(ResolvedPrompt | MissingPrompt)[]>;
  /** `prompts:/name/3`, `prompts:/name@alias`, or a bare name (`@latest`). */
  loadPrompt(uriOrName: string): Promise<PromptVersion>;
  setAlias(name: string, alias: string, version: number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  searchPrompts(options?: SearchOptions): Promise<Page<Prompt>>;
  /** Every prompt matching the filter, page after page. */
  listPrompts(filter?: string): AsyncGenerator<Prompt>;
  /** A prompt's versions, highest first. */
  searchPromptVersions(name: string, options?: Omit<SearchOptions, 'filter'>): Promise<Page<PromptVersion>>;
  setPromptTag(name: string, key: string, value: string): Promise<void>;
  deletePromptTag(name: string, key: string): Promise<void>;
  setVersionTag(name: string, version: number, key: string, value: string): Promise<void>;
  deleteVersionTag(name: string, version: number, key: string): Promise<void>;
  deleteVersion(name: string, version: number): Promise<void>;
  deletePrompt(name: string): Promise<void>;
  linkPromptsToTrace(traceId: string, versions: readonly VersionRef[]): Promise<LinkResult>;
}

export type RegistryClientOptions = HttpClientOptions;

const ALIAS_NOT_FOUND = /alias .* not found/i;

function sameTags(wire: WireModelVersion, expected: readonly { key: string; value: string }[]): boolean {
  const actual = new Map(wire.tags.map((t) => [t.key, t.value]));
  return actual.size === expected.length && expected.every((t) => actual.get(t.key) === t.value);
}

function validateMaxResults(maxResults: number | undefined, limit: number): number | undefined {
  if (maxResults === undefined) return undefined;
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > limit) {
    throw new InvalidInputError(`maxResults must be an integer from 1 to ${limit}.`);
  }
  return maxResults;
}

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const http = createHttpClient(options);

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
    const model = await getRegisteredModel(operation, validatePromptName(name));
    if (!isPromptModel(model)) {
      throw new InvalidInputError(`'${name}' is registered as a model, not a prompt.`, {
        registry: { operation },
      });
    }
    return model;
  }

  /** Creates an empty prompt; a lost answer is recovered by reading the prompt back. */
  async function createPrompt(input: CreatePromptInput): Promise<Prompt> {
    const operation = 'createPrompt';
    validatePromptName(input.name);
    const userTags = validateUserTags(input.tags ?? {});
    const tags = [
      { key: IS_PROMPT_TAG, value: 'true' },
      ...Object.entries(userTags).map(([key, value]) => ({ key, value })),
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
  }

  async function registerPrompt(input: RegisterPromptInput): Promise<PromptVersion> {
    const operation = 'registerPrompt';
    validatePromptName(input.name);
    validateTemplate(input.template);
    const userTags = validateUserTags(input.tags ?? {});
    const tags = versionTags({ ...input, tags: userTags });

    let knownLatest = 0;
    let isNew = false;
    try {
      const model = await getPromptModel(operation, input.name);
      knownLatest = Number(newestVersion(model)?.version ?? 0);
      // MLflow's SDK copies the user tags of every registration onto the prompt as well.
      for (const [key, value] of Object.entries(userTags)) {
        await setPromptTag(input.name, key, value);
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      try {
        await createPrompt({ name: input.name, description: input.commitMessage, tags: userTags });
        isNew = true;
      } catch (createError) {
        // Someone created it between our read and our create: fine if it is a prompt.
        if (!(createError instanceof AlreadyExistsError)) throw createError;
        await getPromptModel(operation, input.name);
      }
    }

    try {
      return await createVersion(input, tags, knownLatest);
    } catch (error) {
      // As MLflow's SDK does: a prompt that got no first version is removed again.
      if (isNew) await deletePrompt(input.name).catch(() => undefined);
      throw error;
    }
  }

  async function createVersion(
    input: RegisterPromptInput,
    tags: readonly { key: string; value: string }[],
    knownLatest: number,
  ): Promise<PromptVersion> {
    const operation = 'createPromptVersion';
    const description = input.commitMessage ? { description: input.commitMessage } : {};
    const created = await http.call({
      operation,
      method: 'POST',
      path: '/2.0/mlflow/model-versions/create',
      body: { name: input.name, source: PROMPT_SOURCE, tags, ...description },
      schema: modelVersionResponse,
      // A create whose answer was lost may still have happened: adopt a newer version with
      // exactly our content instead of writing a duplicate.
      reconcile: async () => {
        const model = await getRegisteredModel(operation, input.name);
        const mine = model.latest_versions.find(
          (v) =>
            Number(v.version) > knownLatest &&
            sameTags(v, tags) &&
            (v.description ?? '') === (input.commitMessage ?? ''),
        );
        return mine ? { model_version: mine } : undefined;
      },
    });
    return toPromptVersion(operation, created.model_version);
  }

  async function createPromptVersion(
    input: RegisterPromptInput,
    options: { latestVersion?: number } = {},
  ): Promise<PromptVersion> {
    validatePromptName(input.name);
    validateTemplate(input.template);
    const tags = versionTags({ ...input, tags: validateUserTags(input.tags ?? {}) });
    let latest = options.latestVersion;
    if (latest === undefined) {
      const model = await getPromptModel('createPromptVersion', input.name);
      latest = Number(newestVersion(model)?.version ?? 0);
    }
    return createVersion(input, tags, latest);
  }

  async function inspectPrompt(name: string): Promise<PromptState> {
    const operation = 'inspectPrompt';
    const model = await getPromptModel(operation, name);
    const newest = newestVersion(model);
    return { prompt: toPrompt(model), latest: newest && toPromptVersion(operation, newest) };
  }

  async function getPrompt(name: string): Promise<Prompt> {
    return toPrompt(await getPromptModel('getPrompt', name));
  }

  async function getPromptVersion(name: string, version: number): Promise<PromptVersion> {
    const operation = 'getPromptVersion';
    const response = await http.call({
      operation,
      method: 'GET',
      path: '/2.0/mlflow/model-versions/get',
      query: { name: validatePromptName(name), version: String(validateVersion(version)) },
      schema: modelVersionResponse,
    });
    return toPromptVersion(operation, response.model_version);
  }

  async function resolveAlias(name: string, alias: string): Promise<PromptVersion> {
    const operation = 'resolveAlias';
    validatePromptName(name);
    validateAliasName(alias);
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
  }

  const resolvePrompts = createPromptResolver(http, getPromptVersion);

  async function resolveAliases(names: readonly string[], alias: string): Promise<PromptVersion[]> {
    validateAliasName(alias);
    const resolved = await resolvePrompts(names.map((name) => ({ name, alias })));
    return resolved.map((r) => r.version);
  }

  function load(ref: PromptRef): Promise<PromptVersion> {
    return ref.version !== undefined
      ? getPromptVersion(ref.name, ref.version)
      : resolveAlias(ref.name, ref.alias);
  }

  async function setAlias(name: string, alias: string, version: number): Promise<void> {
    await http.call({
      operation: 'setAlias',
      method: 'POST',
      path: '/2.0/mlflow/registered-models/alias',
      body: {
        name: validatePromptName(name),
        alias: validateWritableAlias(alias),
        version: String(validateVersion(version)),
      },
      schema: emptyResponse,
    });
  }

  async function deleteAlias(name: string, alias: string): Promise<void> {
    await http.call({
      operation: 'deleteAlias',
      method: 'DELETE',
      path: '/2.0/mlflow/registered-models/alias',
      body: { name: validatePromptName(name), alias: validateWritableAlias(alias) },
      schema: emptyResponse,
    });
  }

  async function searchPrompts(search: SearchOptions = {}): Promise<Page<Prompt>> {
    const filter = search.filter?.trim() ? `${PROMPT_FILTER} AND ${search.filter.trim()}` : PROMPT_FILTER;
    const response = await http.call({
      operation: 'searchPrompts',
      method: 'GET',
      path: '/2.0/mlflow/registered-models/search',
      query: {
        filter,
        max_results: validateMaxResults(search.maxResults, 1000) ?? 100,
        page_token: search.pageToken || undefined,
      },
      schema: searchRegisteredModelsResponse,
    });
    return {
      // The filter already restricts to prompts; this guards against a server that ignores it.
      items: response.registered_models.filter(isPromptModel).map(toPrompt),
      nextPageToken: response.next_page_token || undefined,
    };
  }

  async function* listPrompts(filter?: string): AsyncGenerator<Prompt> {
    let pageToken: string | undefined;
    do {
      const page = await searchPrompts({ filter, maxResults: 100, pageToken });
      yield* page.items;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  async function searchPromptVersions(
    name: string,
    search: Omit<SearchOptions, 'filter'> = {},
  ): Promise<Page<PromptVersion>> {
    const operation = 'searchPromptVersions';
    const response = await http.call({
      operation,
      method: 'GET',
      path: '/2.0/mlflow/model-versions/search',
      query: {
        // The name passed validatePromptName, so it holds no quote to escape.
        filter: `name = '${validatePromptName(name)}' AND ${PROMPT_VERSION_FILTER}`,
        max_results: validateMaxResults(search.maxResults, 200_000) ?? 100,
        order_by: 'version_number DESC',
        page_token: search.pageToken || undefined,
      },
      schema: searchModelVersionsResponse,
    });
    return {
      items: response.model_versions.map((v) => toPromptVersion(operation, v)),
      nextPageToken: response.next_page_token || undefined,
    };
  }

  async function mutate(
    operation: string,
    method: 'POST' | 'DELETE',
    path: string,
    body: object,
  ): Promise<void> {
    await http.call({ operation, method, path: `/2.0/mlflow/${path}`, body, schema: emptyResponse });
  }

  function userTagKey(key: string): string {
    validateTagKey(key);
    if (key === IS_PROMPT_TAG) throw new InvalidInputError(`The tag '${key}' is reserved by MLflow.`);
    return key;
  }

  async function setPromptTag(name: string, key: string, value: string): Promise<void> {
    validatePromptName(name);
    await mutate('setPromptTag', 'POST', 'registered-models/set-tag', {
      name,
      key: userTagKey(key),
      value: validateTagValue(key, value),
    });
  }

  async function deletePromptTag(name: string, key: string): Promise<void> {
    validatePromptName(name);
    await mutate('deletePromptTag', 'DELETE', 'registered-models/delete-tag', { name, key: userTagKey(key) });
  }

  async function setVersionTag(name: string, version: number, key: string, value: string): Promise<void> {
    validatePromptName(name);
    validateUserTags({ [key]: value });
    await mutate('setVersionTag', 'POST', 'model-versions/set-tag', {
      name,
      version: String(validateVersion(version)),
      key,
      value,
    });
  }

  async function deleteVersionTag(name: string, version: number, key: string): Promise<void> {
    validatePromptName(name);
    validateUserTags({ [key]: '' });
    await mutate('deleteVersionTag', 'DELETE', 'model-versions/delete-tag', {
      name,
      version: String(validateVersion(version)),
      key,
    });
  }

  async function deleteVersion(name: string, version: number): Promise<void> {
    await mutate('deleteVersion', 'DELETE', 'model-versions/delete', {
      name: validatePromptName(name),
      version: String(validateVersion(version)),
    });
  }

  async function deletePrompt(name: string): Promise<void> {
    await mutate('deletePrompt', 'DELETE', 'registered-models/delete', { name: validatePromptName(name) });
  }

  async function linkPromptsToTrace(traceId: string, versions: readonly VersionRef[]): Promise<LinkResult> {
    if (traceId.trim() === '') throw new InvalidInputError('A trace id is required to link prompts to it.');
    const unique = new Map<string, { name: string; version: string }>();
    for (const ref of versions) {
      const version = String(validateVersion(ref.version));
      unique.set(`${validatePromptName(ref.name)}/${version}`, { name: ref.name, version });
    }
    if (unique.size === 0) return { linked: true };
    try {
      await http.call({
        operation: 'linkPromptsToTrace',
        method: 'POST',
        path: '/2.0/mlflow/traces/link-prompts',
        body: { trace_id: traceId, prompt_versions: [...unique.values()] },
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
  }

  return {
    trackingUri: http.baseUrl,
    get requestCount() {
      return http.requestCount;
    },
    createPrompt,
    registerPrompt,
    createPromptVersion,
    inspectPrompt,
    getPrompt,
    getPromptVersion,
    resolveAlias,
    resolveAliases,
    resolvePrompts,
    loadPrompt: async (uriOrName) => load(parsePromptUri(uriOrName)),
    setAlias,
    deleteAlias,
    searchPrompts,
    listPrompts,
    searchPromptVersions,
    setPromptTag,
    deletePromptTag,
    setVersionTag,
    deleteVersionTag,
    deleteVersion,
    deletePrompt,
    linkPromptsToTrace,
    ...createTracking(http),
  };
}

export type { JsonObject, Prompt, PromptVersion };
export { promptTextTagValue };
