/**
 * How a prompt lives in Unity Catalog's prompt API (the UC dialect), in both directions, as
 * MLflow's SDK writes and reads it (mlflow/store/_unity_catalog/registry): the template is always
 * JSON-encoded in a field of its own (a text template as a JSON string, a chat template as a JSON
 * array), the version tags are the user's then `_mlflow_prompt_response_format`,
 * `_mlflow_prompt_model_config` and `_mlflow_prompt_type`, and no `mlflow.prompt.*` tag is written;
 * on read every `_mlflow*` version tag is hidden and the type follows from the decoded template.
 * Timestamps are RFC 3339 strings. Our own tag keys travel in their underscored spelling
 * (tag-keys.ts) and come back in the code's.
 */
import * as z from 'zod';
import {
  type JsonObject,
  MODEL_CONFIG_TAG,
  PROMPT_TYPE_TAG,
  RESPONSE_FORMAT_TAG,
} from '../../prompts/metadata';
import { formatPromptUri } from '../../prompts/names';
import {
  type ChatMessage,
  chatMessageSchema,
  isChatTemplate,
  type Template,
  templateVariables,
} from '../../prompts/template';
import { pythonJsonDumps } from '../../util/python-json';
import { malformedResponse } from '../failures';
import type { EncodedVersion, Prompt, PromptVersion } from '../prompt-version';
import { codeTagKey, wireTagKey } from '../tag-keys';

const tag = z.looseObject({ key: z.string(), value: z.string().default('') });
const alias = z.looseObject({ alias: z.string(), version: z.string() });
const timestamp = z.string().optional();

export const ucPrompt = z.looseObject({
  name: z.string(),
  description: z.string().optional(),
  creation_timestamp: timestamp,
  last_updated_timestamp: timestamp,
  aliases: z.array(alias).default([]),
  tags: z.array(tag).default([]),
});
export type UcPrompt = z.infer<typeof ucPrompt>;

export const ucPromptVersion = z.looseObject({
  name: z.string(),
  version: z.string().regex(/^[0-9]+$/),
  template: z.string(),
  description: z.string().optional(),
  creation_timestamp: timestamp,
  last_updated_timestamp: timestamp,
  aliases: z.array(alias).default([]),
  tags: z.array(tag).default([]),
});
export type UcPromptVersion = z.infer<typeof ucPromptVersion>;

export const ucSearchPrompts = z.looseObject({
  prompts: z.array(ucPrompt).default([]),
  next_page_token: z.string().optional(),
});
export const ucSearchVersions = z.looseObject({
  prompt_versions: z.array(ucPromptVersion).default([]),
  next_page_token: z.string().optional(),
});

export interface WireTag {
  readonly key: string;
  readonly value: string;
}

export const toWireTags = (tags: Readonly<Record<string, string>>): WireTag[] =>
  Object.entries(tags).map(([key, value]) => ({ key: wireTagKey('uc', key), value }));

/** The new version's body, field for field as MLflow's UC store builds it. */
export function versionBody(version: EncodedVersion): {
  name: string;
  template: string;
  description?: string;
  tags: WireTag[];
} {
  const tags = toWireTags(version.tags);
  if (version.responseFormat !== undefined)
    tags.push({ key: RESPONSE_FORMAT_TAG, value: version.responseFormat });
  // MLflow's UC store dumps the config as given, where the tracking server's normalises it.
  if (version.modelConfigAsGiven !== undefined)
    tags.push({ key: MODEL_CONFIG_TAG, value: version.modelConfigAsGiven });
  tags.push({ key: PROMPT_TYPE_TAG, value: isChatTemplate(version.template) ? 'chat' : 'text' });
  return {
    name: version.name,
    // Python's json.dumps, byte for byte: a text template becomes a JSON string literal.
    template: pythonJsonDumps(version.template),
    ...(version.commitMessage ? { description: version.commitMessage } : {}),
    tags,
  };
}

const millis = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
};

const chatTemplate = z.array(chatMessageSchema).min(1);
const jsonObject = z.record(z.string(), z.unknown());

function parseJson(operation: string, what: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (cause) {
    throw malformedResponse(operation, `${what} is not JSON`, cause);
  }
}

export function toPromptVersion(operation: string, wire: UcPromptVersion): PromptVersion {
  const where = `prompt '${wire.name}' version ${wire.version}`;
  const decoded = parseJson(operation, `the template of ${where}`, wire.template);
  let template: Template;
  if (typeof decoded === 'string') template = decoded;
  else {
    const parsed = chatTemplate.safeParse(decoded);
    if (!parsed.success) {
      throw malformedResponse(operation, `the template of ${where} is neither text nor chat messages`);
    }
    template = parsed.data as ChatMessage[];
  }
  const tags = new Map(wire.tags.map((t) => [t.key, t.value]));
  const objectTag = (key: string): JsonObject | undefined => {
    const value = tags.get(key);
    if (value === undefined) return undefined;
    const parsed = jsonObject.safeParse(parseJson(operation, `tag ${key} of ${where}`, value));
    if (!parsed.success) throw malformedResponse(operation, `tag ${key} of ${where} is not a JSON object`);
    return parsed.data as JsonObject;
  };
  const version = Number(wire.version);
  return {
    name: wire.name,
    version,
    type: typeof template === 'string' ? 'text' : 'chat',
    template,
    variables: templateVariables(template),
    commitMessage: wire.description ? wire.description : undefined,
    tags: Object.fromEntries(
      wire.tags.filter((t) => !t.key.startsWith('_mlflow')).map((t) => [codeTagKey('uc', t.key), t.value]),
    ),
    aliases: wire.aliases.map((a) => a.alias),
    modelConfig: objectTag(MODEL_CONFIG_TAG),
    responseFormat: objectTag(RESPONSE_FORMAT_TAG),
    creationTimestamp: millis(wire.creation_timestamp),
    lastUpdatedTimestamp: millis(wire.last_updated_timestamp),
    userId: undefined,
    uri: formatPromptUri({ name: wire.name, version }),
  };
}

export function toPrompt(wire: UcPrompt, latestVersion: number | undefined): Prompt {
  return {
    name: wire.name,
    description: wire.description ? wire.description : undefined,
    tags: Object.fromEntries(wire.tags.map((t) => [codeTagKey('uc', t.key), t.value])),
    aliases: Object.fromEntries(wire.aliases.map((a) => [a.alias, Number(a.version)])),
    latestVersion,
    creationTimestamp: millis(wire.creation_timestamp),
    lastUpdatedTimestamp: millis(wire.last_updated_timestamp),
  };
}

/** Whether a version read back is the one `body` would create (a create whose answer was lost). */
export function sameVersion(wire: UcPromptVersion, body: ReturnType<typeof versionBody>): boolean {
  const actual = new Map(wire.tags.map((t) => [t.key, t.value]));
  return (
    wire.template === body.template &&
    (wire.description ?? '') === (body.description ?? '') &&
    actual.size === body.tags.length &&
    body.tags.every((t) => actual.get(t.key) === t.value)
  );
}
