/**
 * How a prompt lives in the tracking server's model registry (the OSS dialect): a registered model
 * and model versions carrying reserved tags, in both directions: what we write for a new version,
 * and how an answer becomes a `PromptVersion` or `Prompt`, exactly as MLflow's SDK reads it.
 */
import * as z from 'zod';
import { InvalidInputError } from '../../errors';
import {
  IS_PROMPT_TAG,
  type JsonObject,
  MODEL_CONFIG_TAG,
  PROMPT_TEXT_TAG,
  PROMPT_TYPE_TAG,
  RESERVED_VERSION_TAGS,
  RESPONSE_FORMAT_TAG,
} from '../../prompts/metadata';
import { formatPromptUri } from '../../prompts/names';
import {
  type ChatMessage,
  chatMessageSchema,
  isChatTemplate,
  type Template,
  templateText,
  templateVariables,
} from '../../prompts/template';
import { malformedResponse } from '../failures';
import type { EncodedVersion, Prompt, PromptType, PromptVersion } from '../prompt-version';
import type { WireModelVersion, WireRegisteredModel } from '../schemas';

/** The version tags in the order MLflow's `register_prompt` sends them to a tracking server. */
export function versionTags(version: EncodedVersion): { key: string; value: string }[] {
  const tags = Object.entries(version.tags).map(([key, value]) => ({ key, value }));
  tags.push(
    { key: IS_PROMPT_TAG, value: 'true' },
    { key: PROMPT_TYPE_TAG, value: isChatTemplate(version.template) ? 'chat' : 'text' },
    { key: PROMPT_TEXT_TAG, value: templateText(version.template) },
  );
  if (version.responseFormat !== undefined) {
    tags.push({ key: RESPONSE_FORMAT_TAG, value: version.responseFormat });
  }
  if (version.modelConfig !== undefined) tags.push({ key: MODEL_CONFIG_TAG, value: version.modelConfig });
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
