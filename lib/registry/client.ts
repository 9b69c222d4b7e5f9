/**
 * The project's one client for the MLflow Prompt Registry, and the tracking parts the agent needs.
 * What every registry API shares lives here once: input validation (before any request), the
 * create-if-missing flow of `registerPrompt`, `prompts:/` URIs, aliases resolved by name, and the
 * de-duplication of trace links. What differs between APIs is the dialect's (dialect.ts); the
 * tracking server's REST API (dialects/oss.ts) is the default.
 */
import { AlreadyExistsError, InvalidInputError, NotFoundError } from '../errors';
import {
  IS_PROMPT_TAG,
  validateDescription,
  validateTagKey,
  validateTagValue,
  validateUserTags,
} from '../prompts/metadata';
import {
  parsePromptUri,
  validateAliasName,
  validatePromptName,
  validateVersion,
  validateWritableAlias,
} from '../prompts/names';
import type {
  CreatePromptInput,
  LinkResult,
  MissingPrompt,
  Page,
  PromptState,
  PromptTarget,
  RegistryDialect,
  ResolvedPrompt,
  ResolveOptions,
  VersionRef,
} from './dialect';
import { createOssDialect } from './dialects/oss';
import { createHttpClient, type HttpClient, type HttpClientOptions } from './http';
import { encodeVersion, type NewVersion, type Prompt, type PromptVersion } from './prompt-version';
import { createTracking, type Tracking } from './tracking';

export interface RegisterPromptInput extends NewVersion {
  readonly name: string;
  readonly commitMessage?: string | undefined;
}

export interface SearchOptions {
  /** A search filter in the dialect's syntax, ANDed to the prompt filter, e.g. `name LIKE 'health.%'`. */
  readonly filter?: string | undefined;
  readonly maxResults?: number | undefined;
  readonly pageToken?: string | undefined;
}

/** The project's one client for the MLflow server: the prompt registry, and the tracking parts the agent needs. */
export interface RegistryClient extends Tracking {
  readonly trackingUri: string;
  /** HTTP requests sent so far. */
  readonly requestCount: number;
  /** Where trace spans go on this registry's server (RegistryDialect.traceStore). */
  readonly traceStore: 'otlp' | 'artifacts';

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
   * Many prompts by one alias, in the order given, in as few requests as the dialect allows; the
   * tracking server's takes one or two (dialects/oss-resolve-prompts.ts).
   */
  resolveAliases(names: readonly string[], alias: string): Promise<PromptVersion[]>;
  /** Many prompts, each by its own alias or pinned version, with their prompt tags. */
  resolvePrompts(targets: readonly PromptTarget[]): Promise<ResolvedPrompt[]>;
  resolvePrompts(
    targets: readonly PromptTarget[],
    options: ResolveOptions,
  ): Promise<(ResolvedPrompt | MissingPrompt)[]>;
  /** `prompts:/name/3`, `prompts:/name@alias`, or a bare name (`@latest`). */
  loadPrompt(uriOrName: string): Promise<PromptVersion>;
  setAlias(name: string, alias: string, version: number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  /** The prompts of these names that exist; the others are simply absent. */
  findPrompts(names: readonly string[]): Promise<Prompt[]>;
  searchPrompts(options?: SearchOptions): Promise<Page<Prompt>>;
  /** A prompt's versions, highest first. */
  searchPromptVersions(name: string, options?: Omit<SearchOptions, 'filter'>): Promise<Page<PromptVersion>>;
  setPromptTag(name: string, key: string, value: string): Promise<void>;
  deletePromptTag(name: string, key: string): Promise<void>;
  setVersionTag(name: string, version: number, key: string, value: string): Promise<void>;
  deletePrompt(name: string): Promise<void>;
  linkPromptsToTrace(traceId: string, versions: readonly VersionRef[]): Promise<LinkResult>;
}

export interface RegistryClientOptions extends HttpClientOptions {
  /** The registry API spoken over the transport; the tracking server's REST API unless given. */
  readonly dialect?: ((http: HttpClient) => RegistryDialect) | undefined;
}

function validateMaxResults(maxResults: number | undefined, limit: number): number | undefined {
  if (maxResults === undefined) return undefined;
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > limit) {
    throw new InvalidInputError(`maxResults must be an integer from 1 to ${limit}.`);
  }
  return maxResults;
}

function checkTarget(target: PromptTarget): PromptTarget {
  validatePromptName(target.name);
  if ((target.alias === undefined) === (target.version === undefined)) {
    throw new InvalidInputError(`Prompt '${target.name}': name an alias or a version, not both or neither.`);
  }
  if (target.alias !== undefined) validateAliasName(target.alias);
  if (target.version !== undefined) validateVersion(target.version);
  return target;
}

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const http = createHttpClient(options);
  const dialect = (options.dialect ?? createOssDialect)(http);

  /** Keys this registry takes, checked before any request (Unity Catalog refuses dots). */
  function checkKeys<T extends Readonly<Record<string, string>>>(tags: T): T {
    for (const key of Object.keys(tags)) {
      const problem = dialect.tagKeyProblem(key);
      if (problem) throw new InvalidInputError(`Invalid tag key '${key}': ${problem}.`);
    }
    return tags;
  }

  /** A prompt-level tag a user may write: MLflow's own marker is not one. */
  function userTagKey(key: string): string {
    validateTagKey(key);
    if (key === IS_PROMPT_TAG) throw new InvalidInputError(`The tag '${key}' is reserved by MLflow.`);
    checkKeys({ [key]: '' });
    return key;
  }

  async function createPrompt(input: CreatePromptInput): Promise<Prompt> {
    validatePromptName(input.name);
    validateDescription('description', input.description);
    const tags = checkKeys(validateUserTags(input.tags ?? {}));
    return dialect.createPrompt({ name: input.name, description: input.description, tags });
  }

  async function registerPrompt(input: RegisterPromptInput): Promise<PromptVersion> {
    const operation = 'registerPrompt';
    const version = encodeVersion(input);
    checkKeys(version.tags);

    let knownLatest = 0;
    let isNew = false;
    try {
      const prompt = await dialect.getPrompt(input.name, operation);
      knownLatest = prompt.latestVersion ?? 0;
      // MLflow's SDK copies the user tags of every registration onto the prompt as well (not on UC).
      if (dialect.copiesVersionTagsToPrompt) {
        for (const [key, value] of Object.entries(version.tags)) {
          await setPromptTag(input.name, key, value);
        }
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      try {
        await createPrompt({ name: input.name, description: input.commitMessage, tags: version.tags });
        isNew = true;
      } catch (createError) {
        // Someone created it between our read and our create: fine if it is a prompt.
        if (!(createError instanceof AlreadyExistsError)) throw createError;
        await dialect.getPrompt(input.name, operation);
      }
    }

    try {
      return await dialect.createVersion(version, knownLatest);
    } catch (error) {
      // As MLflow's SDK does: a prompt that got no first version is removed again.
      if (isNew) await deletePrompt(input.name).catch(() => undefined);
      throw error;
    }
  }

  async function createPromptVersion(
    input: RegisterPromptInput,
    options: { latestVersion?: number } = {},
  ): Promise<PromptVersion> {
    const version = encodeVersion(input);
    checkKeys(version.tags);
    const latest =
      options.latestVersion ??
      (await dialect.getPrompt(input.name, 'createPromptVersion')).latestVersion ??
      0;
    return dialect.createVersion(version, latest);
  }

  async function getPromptVersion(name: string, version: number): Promise<PromptVersion> {
    validatePromptName(name);
    return dialect.getVersion(name, validateVersion(version));
  }

  async function resolveAlias(name: string, alias: string): Promise<PromptVersion> {
    validatePromptName(name);
    return dialect.getVersionByAlias(name, validateAliasName(alias));
  }

  function resolvePrompts(targets: readonly PromptTarget[]): Promise<ResolvedPrompt[]>;
  function resolvePrompts(
    targets: readonly PromptTarget[],
    options: ResolveOptions,
  ): Promise<(ResolvedPrompt | MissingPrompt)[]>;
  async function resolvePrompts(
    targets: readonly PromptTarget[],
    options: ResolveOptions = {},
  ): Promise<(ResolvedPrompt | MissingPrompt)[]> {
    targets.forEach(checkTarget);
    return dialect.resolvePrompts(targets, options);
  }

  async function setPromptTag(name: string, key: string, value: string): Promise<void> {
    validatePromptName(name);
    await dialect.setPromptTag(name, userTagKey(key), validateTagValue(key, value));
  }

  async function deletePrompt(name: string): Promise<void> {
    await dialect.deletePrompt(validatePromptName(name));
  }

  return {
    trackingUri: http.baseUrl,
    traceStore: dialect.traceStore,
    get requestCount() {
      return http.requestCount;
    },
    createPrompt,
    registerPrompt,
    createPromptVersion,
    async inspectPrompt(name) {
      return dialect.inspectPrompt(validatePromptName(name));
    },
    async getPrompt(name) {
      return dialect.getPrompt(validatePromptName(name), 'getPrompt');
    },
    getPromptVersion,
    resolveAlias,
    async resolveAliases(names, alias) {
      validateAliasName(alias);
      const resolved = await resolvePrompts(names.map((name) => ({ name, alias })));
      return resolved.map((r) => r.version);
    },
    resolvePrompts,
    async loadPrompt(uriOrName) {
      const ref = parsePromptUri(uriOrName);
      return ref.version !== undefined
        ? getPromptVersion(ref.name, ref.version)
        : resolveAlias(ref.name, ref.alias);
    },
    async setAlias(name, alias, version) {
      validatePromptName(name);
      validateWritableAlias(alias);
      await dialect.setAlias(name, alias, validateVersion(version));
    },
    async deleteAlias(name, alias) {
      validatePromptName(name);
      await dialect.deleteAlias(name, validateWritableAlias(alias));
    },
    async findPrompts(names) {
      for (const name of names) validatePromptName(name);
      return names.length === 0 ? [] : dialect.findPrompts(names);
    },
    async searchPrompts(search = {}) {
      const maxResults = validateMaxResults(search.maxResults, dialect.maxResults.prompts) ?? 100;
      return dialect.searchPrompts(search.filter, { maxResults, pageToken: search.pageToken || undefined });
    },
    async searchPromptVersions(name, search = {}) {
      validatePromptName(name);
      const maxResults = validateMaxResults(search.maxResults, dialect.maxResults.versions) ?? 100;
      return dialect.searchVersions(name, { maxResults, pageToken: search.pageToken || undefined });
    },
    setPromptTag,
    async deletePromptTag(name, key) {
      validatePromptName(name);
      await dialect.deletePromptTag(name, userTagKey(key));
    },
    async setVersionTag(name, version, key, value) {
      validatePromptName(name);
      checkKeys(validateUserTags({ [key]: value }));
      await dialect.setVersionTag(name, validateVersion(version), key, value);
    },
    deletePrompt,
    async linkPromptsToTrace(traceId, versions) {
      if (traceId.trim() === '') throw new InvalidInputError('A trace id is required to link prompts to it.');
      const unique = new Map<string, VersionRef>();
      for (const ref of versions) {
        const version = validateVersion(ref.version);
        unique.set(`${validatePromptName(ref.name)}/${version}`, { name: ref.name, version });
      }
      if (unique.size === 0) return { linked: true };
      return dialect.linkPromptsToTrace(traceId, [...unique.values()]);
    },
    ...createTracking(http),
  };
}
