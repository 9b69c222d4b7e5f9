/**
 * How a prompt lives in MLflow's model registry (a registered model and model versions carrying
 * reserved tags), in both directions: what we write for a new version, and how an answer from the
 * server becomes a `PromptVersion` or `Prompt`, exactly as MLflow's SDK would read it.
 */
import * as z from 'zod';
import { InvalidInputError, zodIssues } from '../errors';
import { formatPromptUri } from '../prompts/names';
import { type ChatMessage, isChatTemplate, type Template, templateVariables } from '../prompts/template';
import { PyFloat, type PyJsonValue, pythonJsonDumps } from '../util/python-json';
import { malformedResponse } from './failures';
import type { WireModelVersion, WireRegisteredModel } from './schemas';

export const IS_PROMPT_TAG = 'mlflow.prompt.is_prompt';
export const PROMPT_TEXT_TAG = 'mlflow.prompt.text';
export const PROMPT_TYPE_TAG = '_mlflow_prompt_type';
export const RESPONSE_FORMAT_TAG = '_mlflow_prompt_response_format';
export const MODEL_CONFIG_TAG = '_mlflow_prompt_model_config';

/** Tags MLflow hides from `PromptVersion.tags`; users may not set them directly. */
export const RESERVED_VERSION_TAGS: ReadonlySet<string> = new Set([
  IS_PROMPT_TAG,
  PROMPT_TEXT_TAG,
  PROMPT_TYPE_TAG,
  RESPONSE_FORMAT_TAG,
  MODEL_CONFIG_TAG,
]);

/** MLflow's MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, which also bounds the template. */
export const MAX_TAG_VALUE_LENGTH = 100_000;
const MAX_TAG_KEY_LENGTH = 250;
/** MLflow's tag key rule, `[/\w.\- :]` with Python's Unicode-aware `\w`. */
const TAG_KEY_RULE = /^[/\p{L}\p{N}_.\- :]+$/u;

export type PromptType = 'text' | 'chat';
export type JsonObject = { readonly [key: string]: PyJsonValue };

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

/** Codepoints, as Python's `len` counts them. */
export function pythonLength(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

export function validateTagKey(key: string): string {
  if (key.length === 0 || key.length > MAX_TAG_KEY_LENGTH || !TAG_KEY_RULE.test(key)) {
    throw new InvalidInputError(
      `Invalid tag key '${key}': 1 to ${MAX_TAG_KEY_LENGTH} letters, digits, '_', '-', '.', ' ', ':' or '/'.`,
    );
  }
  return key;
}

export function validateTagValue(key: string, value: string): string {
  if (pythonLength(value) > MAX_TAG_VALUE_LENGTH) {
    throw new InvalidInputError(`The value of tag '${key}' exceeds ${MAX_TAG_VALUE_LENGTH} characters.`);
  }
  return value;
}

export function validateUserTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  for (const [key, value] of Object.entries(tags)) {
    validateTagKey(key);
    if (RESERVED_VERSION_TAGS.has(key)) {
      throw new InvalidInputError(
        `The tag '${key}' is reserved by MLflow and is set from the prompt itself.`,
      );
    }
    validateTagValue(key, value);
  }
  return { ...tags };
}

// MLflow's PromptModelConfig: known fields in this order, validated, then unknown keys as given.
const FLOAT_FIELDS = new Set(['temperature', 'top_p', 'frequency_penalty', 'presence_penalty']);
const modelConfigSchema = z.object({
  provider: z.string().optional(),
  model_name: z.string().optional(),
  temperature: z.number().min(0).optional(),
  max_tokens: z.number().int().positive().optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().positive().optional(),
  frequency_penalty: z.number().optional(),
  presence_penalty: z.number().optional(),
  stop_sequences: z.array(z.string()).optional(),
});
const KNOWN_MODEL_CONFIG_FIELDS = Object.keys(modelConfigSchema.shape);

/** Validates a model config as MLflow does and serialises it byte-for-byte as MLflow would. */
export function serialiseModelConfig(config: Readonly<Record<string, unknown>>): string {
  const known = Object.fromEntries(
    Object.entries(config).filter(
      ([key, value]) => KNOWN_MODEL_CONFIG_FIELDS.includes(key) && value !== null,
    ),
  );
  const parsed = modelConfigSchema.safeParse(known);
  if (!parsed.success) {
    const { issues, line } = zodIssues(parsed.error, { at: 'modelConfig' });
    throw new InvalidInputError(`Invalid model config: ${line}`, { issues });
  }
  const ordered: Record<string, PyJsonValue> = {};
  for (const key of KNOWN_MODEL_CONFIG_FIELDS) {
    const value = (parsed.data as Record<string, PyJsonValue | undefined>)[key];
    if (value === undefined) continue;
    ordered[key] = FLOAT_FIELDS.has(key) ? new PyFloat(value as number) : value;
  }
  for (const [key, value] of Object.entries(config)) {
    if (!KNOWN_MODEL_CONFIG_FIELDS.includes(key)) ordered[key] = value as PyJsonValue;
  }
  return pythonJsonDumps(ordered);
}

/** The value of `mlflow.prompt.text`: the text itself, or Python's `json.dumps` of the messages. */
export function promptTextTagValue(template: Template): string {
  return isChatTemplate(template) ? pythonJsonDumps(template) : template;
}

const chatMessageSchema = z.looseObject({ role: z.string().min(1), content: z.string() });

/** Checks a template before it is written; returns it unchanged. */
export function validateTemplate(template: Template): Template {
  if (isChatTemplate(template)) {
    if (template.length === 0) throw new InvalidInputError('A chat template needs at least one message.');
    template.forEach((message, index) => {
      if (!chatMessageSchema.safeParse(message).success) {
        throw new InvalidInputError(
          `Chat message ${index} must have a non-empty string 'role' and a string 'content'.`,
          { issues: [{ path: `template.${index}`, message: 'role and content are required strings' }] },
        );
      }
    });
  } else if (template.trim() === '') {
    throw new InvalidInputError('The template is empty.');
  }
  const length = pythonLength(promptTextTagValue(template));
  if (length > MAX_TAG_VALUE_LENGTH) {
    throw new InvalidInputError(
      `The template is ${length} characters long; MLflow stores at most ${MAX_TAG_VALUE_LENGTH}.`,
    );
  }
  return template;
}

export interface NewVersion {
  readonly template: Template;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly modelConfig?: Readonly<Record<string, unknown>> | undefined;
  readonly responseFormat?: JsonObject | undefined;
}

/** The version tags in the order MLflow's `register_prompt` sends them. */
export function versionTags(input: NewVersion): { key: string; value: string }[] {
  const tags = Object.entries(input.tags ?? {}).map(([key, value]) => ({ key, value }));
  tags.push(
    { key: IS_PROMPT_TAG, value: 'true' },
    { key: PROMPT_TYPE_TAG, value: isChatTemplate(input.template) ? 'chat' : 'text' },
    { key: PROMPT_TEXT_TAG, value: promptTextTagValue(input.template) },
  );
  if (input.responseFormat !== undefined && Object.keys(input.responseFormat).length > 0) {
    tags.push({ key: RESPONSE_FORMAT_TAG, value: pythonJsonDumps(input.responseFormat) });
  }
  if (input.modelConfig !== undefined && Object.keys(input.modelConfig).length > 0) {
    tags.push({ key: MODEL_CONFIG_TAG, value: serialiseModelConfig(input.modelConfig) });
  }
  return tags;
}

function tagMap(tags: readonly { key: string; value: string }[]): Map<string, string> {
  return new Map(tags.map((t) => [t.key, t.value]));
}

export function isPromptModel(model: WireRegisteredModel): boolean {
  return tagMap(model.tags).get(IS_PROMPT_TAG)?.toLowerCase() === 'true';
}

function parseJsonTag(operation: string, key: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (cause) {
    throw malformedResponse(operation, `tag ${key} is not JSON`, cause);
  }
}

const jsonObject = z.record(z.string(), z.unknown());
const chatTemplateSchema = z.array(chatMessageSchema).min(1);

export function toPromptVersion(operation: string, wire: WireModelVersion): PromptVersion {
  const tags = tagMap(wire.tags);
  if (tags.get(IS_PROMPT_TAG)?.toLowerCase() !== 'true') {
    throw new InvalidInputError(`'${wire.name}' version ${wire.version} is a model version, not a prompt.`, {
      registry: { operation },
    });
  }
  const text = tags.get(PROMPT_TEXT_TAG);
  if (text === undefined) {
    throw malformedResponse(operation, `prompt '${wire.name}' version ${wire.version} has no prompt text`);
  }
  const type: PromptType = tags.get(PROMPT_TYPE_TAG) === 'chat' ? 'chat' : 'text';
  let template: Template = text;
  if (type === 'chat') {
    const parsed = chatTemplateSchema.safeParse(parseJsonTag(operation, PROMPT_TEXT_TAG, text));
    if (!parsed.success) {
      throw malformedResponse(operation, 'the chat template is not a list of {role, content} text messages');
    }
    template = parsed.data as ChatMessage[];
  }
  const objectTag = (key: string): JsonObject | undefined => {
    const value = tags.get(key);
    if (value === undefined) return undefined;
    const parsed = jsonObject.safeParse(parseJsonTag(operation, key, value));
    if (!parsed.success) throw malformedResponse(operation, `tag ${key} is not a JSON object`);
    return parsed.data as JsonObject;
  };
  const version = Number(wire.version);
  return {
    name: wire.name,
    version,
    type,
    template,
    variables: templateVariables(template),
    commitMessage: wire.description === '' ? undefined : wire.description,
    tags: Object.fromEntries(
      wire.tags.filter((t) => !RESERVED_VERSION_TAGS.has(t.key)).map((t) => [t.key, t.value]),
    ),
    aliases: wire.aliases,
    modelConfig: objectTag(MODEL_CONFIG_TAG),
    responseFormat: objectTag(RESPONSE_FORMAT_TAG),
    creationTimestamp: wire.creation_timestamp,
    lastUpdatedTimestamp: wire.last_updated_timestamp,
    userId: wire.user_id === '' ? undefined : wire.user_id,
    uri: formatPromptUri({ name: wire.name, version }),
  };
}

/** The highest of a prompt's listed versions (MLflow lists one per stage; prompts use none). */
export function newestVersion(model: WireRegisteredModel): WireModelVersion | undefined {
  return model.latest_versions.reduce<WireModelVersion | undefined>(
    (best, v) => (best === undefined || Number(v.version) > Number(best.version) ? v : best),
    undefined,
  );
}

export function toPrompt(wire: WireRegisteredModel): Prompt {
  const newest = newestVersion(wire);
  return {
    name: wire.name,
    description: wire.description === '' ? undefined : wire.description,
    tags: Object.fromEntries(wire.tags.filter((t) => t.key !== IS_PROMPT_TAG).map((t) => [t.key, t.value])),
    aliases: Object.fromEntries(wire.aliases.map((a) => [a.alias, Number(a.version)])),
    latestVersion: newest === undefined ? undefined : Number(newest.version),
    creationTimestamp: wire.creation_timestamp,
    lastUpdatedTimestamp: wire.last_updated_timestamp,
  };
}
