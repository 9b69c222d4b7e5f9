/**
 * A registry dialect: one server API for prompts, behind the one `RegistryClient` (client.ts).
 *
 * MLflow serves prompts through two APIs that differ in paths, body shapes and encodings: the
 * tracking server's model registry (`/api/2.0/mlflow/registered-models/...`, a prompt stored as a
 * tagged registered model; dialects/oss.ts), and Databricks Unity Catalog
 * (`/api/2.0/mlflow/unity-catalog/prompts/...`, with the template JSON-encoded in a field of its
 * own and trace links through `prompt-versions/links-to-traces`). A dialect supplies, for its API:
 * the requests (paths, bodies, query and paging), the mapping of its answers to `Prompt` and
 * `PromptVersion`, the recovery of a create whose answer was lost, and the failures that mean
 * "not found" there. The client does the rest once, for every dialect: input validation, the
 * create-if-missing flow of `registerPrompt`, `prompts:/` URIs, aliases resolved by name, and the
 * de-duplication of trace links. Every argument a dialect receives has passed that validation.
 */
import type { NotFoundError } from '../errors';
import type { EncodedVersion, Prompt, PromptVersion } from './prompt-version';

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

/** One prompt to resolve: by `alias` (`latest` is the highest version) or by pinned `version`. */
export interface PromptTarget {
  readonly name: string;
  readonly alias?: string | undefined;
  readonly version?: number | undefined;
}

export interface ResolvedPrompt {
  readonly target: PromptTarget;
  readonly version: PromptVersion;
  /** The prompt's own tags (as MLflow's `Prompt.tags`), e.g. `_mlflow_experiment_ids`. */
  readonly promptTags: Readonly<Record<string, string>>;
}

/** With `allowMissing`, a target whose prompt, alias or version does not exist. */
export interface MissingPrompt {
  readonly target: PromptTarget;
  readonly missing: NotFoundError;
}

export interface ResolveOptions {
  /** Report missing prompts, aliases and versions per target instead of failing the batch. */
  readonly allowMissing?: boolean;
}

export interface PageRequest {
  readonly maxResults: number;
  readonly pageToken: string | undefined;
}

export interface RegistryDialect {
  /** The largest page each search may ask for. */
  readonly maxResults: { readonly prompts: number; readonly versions: number };
  /** Whether registering a version also sets its user tags on the prompt (MLflow's SDK: tracking server only). */
  readonly copiesVersionTagsToPrompt: boolean;
  /**
   * Where a trace's spans go: `otlp` (`/v1/traces`, the tracking server) or `artifacts` (the trace
   * info, then `traces.json` to a signed URL, as MLflow's SDK does on Databricks).
   */
  readonly traceStore: 'otlp' | 'artifacts';
  /** Why this registry would refuse a tag key the client's own rules let through, or undefined. */
  tagKeyProblem(key: string): string | undefined;

  /**
   * The prompt, with its latest version number; NotFoundError when there is none, and an
   * InvalidInputError when the name belongs to something that is not a prompt. `operation` names
   * the client call it serves, in errors.
   */
  getPrompt(name: string, operation: string): Promise<Prompt>;
  /** The prompt, and its latest version with template and tags. */
  inspectPrompt(name: string): Promise<PromptState>;
  /** Creates a prompt without versions; AlreadyExistsError when the name is taken. */
  createPrompt(input: CreatePromptInput): Promise<Prompt>;
  /**
   * Creates a version of an existing prompt. A create whose answer was lost is recognised, not
   * repeated: `knownLatest` is the prompt's latest version before this one.
   */
  createVersion(version: EncodedVersion, knownLatest: number): Promise<PromptVersion>;
  getVersion(name: string, version: number): Promise<PromptVersion>;
  /** The version an alias points at (`latest` is the highest); NotFoundError when it has none. */
  getVersionByAlias(name: string, alias: string): Promise<PromptVersion>;
  /** Many targets at once, in the order given, in as few requests as the API allows. */
  resolvePrompts(
    targets: readonly PromptTarget[],
    options: ResolveOptions,
  ): Promise<(ResolvedPrompt | MissingPrompt)[]>;
  /** The prompts of these names that exist (any number of names), without the API's filter syntax. */
  findPrompts(names: readonly string[]): Promise<Prompt[]>;
  /** Prompts matching the filter (the API's own filter syntax, ANDed to "is a prompt"). */
  searchPrompts(filter: string | undefined, page: PageRequest): Promise<Page<Prompt>>;
  /** A prompt's versions, highest first. */
  searchVersions(name: string, page: PageRequest): Promise<Page<PromptVersion>>;
  setAlias(name: string, alias: string, version: number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  setPromptTag(name: string, key: string, value: string): Promise<void>;
  deletePromptTag(name: string, key: string): Promise<void>;
  setVersionTag(name: string, version: number, key: string, value: string): Promise<void>;
  deletePrompt(name: string): Promise<void>;
  /** Links each version to the trace; `versions` holds no duplicate and is not empty. */
  linkPromptsToTrace(traceId: string, versions: readonly VersionRef[]): Promise<LinkResult>;
}
