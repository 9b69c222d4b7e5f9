/**
 * A prompt and its versions as every dialect answers them (`Prompt`, `PromptVersion`), and a new
 * version as every dialect is given it (`EncodedVersion`: validated and serialised once, before
 * any request). How a dialect maps them to its wire is its own (dialects/oss-mapping.ts).
 */
import {
  type JsonObject,
  serialiseModelConfig,
  validateDescription,
  validateUserTags,
} from '../prompts/metadata';
import { validatePromptName } from '../prompts/names';
import { type Template, validateTemplate } from '../prompts/template';
import { pythonJsonDumps } from '../util/python-json';

export type PromptType = 'text' | 'chat';

export interface PromptVersion {
  readonly name: string;
  readonly version: number;
  readonly type: PromptType;
  readonly template: Template;
  /** Sorted, as MLflow's `PromptVersion.variables` finds them. */
  readonly variables: readonly string[];
  readonly commitMessage: string | undefined;
  /** User tags; MLflow's reserved prompt tags are not listed. */
  readonly tags: Readonly<Record<string, string>>;
  readonly aliases: readonly string[];
  readonly modelConfig: JsonObject | undefined;
  readonly responseFormat: JsonObject | undefined;
  readonly creationTimestamp: number | undefined;
  readonly lastUpdatedTimestamp: number | undefined;
  readonly userId: string | undefined;
  readonly uri: string;
}

export interface Prompt {
  readonly name: string;
  readonly description: string | undefined;
  /** Prompt-level tags without `mlflow.prompt.is_prompt`, as MLflow's `Prompt.tags`. */
  readonly tags: Readonly<Record<string, string>>;
  /** Alias name to version number. */
  readonly aliases: Readonly<Record<string, number>>;
  /** The highest version, when the server listed it. */
  readonly latestVersion: number | undefined;
  readonly creationTimestamp: number | undefined;
  readonly lastUpdatedTimestamp: number | undefined;
}

export interface NewVersion {
  readonly template: Template;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly modelConfig?: Readonly<Record<string, unknown>> | undefined;
  readonly responseFormat?: JsonObject | undefined;
}

/** A new version, checked, with its JSON fields serialised as MLflow stores them: what a dialect writes. */
export interface EncodedVersion {
  readonly name: string;
  readonly commitMessage: string | undefined;
  readonly template: Template;
  /** User tags, checked against MLflow's rules and reserved keys. */
  readonly tags: Readonly<Record<string, string>>;
  /** Python's `json.dumps` of the response format, when one is given. */
  readonly responseFormat: string | undefined;
  /** The model config as MLflow normalises and serialises it, when one is given. */
  readonly modelConfig: string | undefined;
  /** The model config dumped as given, as MLflow's Unity Catalog store writes it. */
  readonly modelConfigAsGiven: string | undefined;
}

/** Checks a new version (name, template, tags, then the JSON fields) before any request is made. */
export function encodeVersion(
  input: NewVersion & { readonly name: string; readonly commitMessage?: string | undefined },
): EncodedVersion {
  validatePromptName(input.name);
  validateTemplate(input.template);
  validateDescription('commit message', input.commitMessage);
  const tags = validateUserTags(input.tags ?? {});
  const { responseFormat, modelConfig } = input;
  const hasModelConfig = modelConfig !== undefined && Object.keys(modelConfig).length > 0;
  return {
    name: input.name,
    commitMessage: input.commitMessage,
    template: input.template,
    tags,
    responseFormat:
      responseFormat !== undefined && Object.keys(responseFormat).length > 0
        ? pythonJsonDumps(responseFormat)
        : undefined,
    modelConfig: hasModelConfig ? serialiseModelConfig(modelConfig) : undefined,
    modelConfigAsGiven: hasModelConfig ? serialiseModelConfig(modelConfig, { asGiven: true }) : undefined,
  };
}
