/**
 * What a prompt version carries beside its template: user tags, a model config and a response
 * format, checked with MLflow's own rules before anything is written, and the tag keys MLflow
 * keeps for itself.
 */
import * as z from 'zod';
import { InvalidInputError, zodIssues } from '../errors';
import { PyFloat, type PyJsonValue, pythonJsonDumps } from '../util/python-json';

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

export type JsonObject = { readonly [key: string]: PyJsonValue };

/** Codepoints, as Python's `len` counts them. */
export function pythonLength(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * MLflow's description columns (a prompt's description, a version's commit message) hold 5,000
 * characters (`String(5000)` in its SQL models). SQLite does not enforce it; MySQL, PostgreSQL and
 * others refuse or cut: checked here, before the first write, on every store alike.
 */
export const MAX_DESCRIPTION_LENGTH = 5_000;

export function validateDescription(what: string, text: string | undefined): string | undefined {
  if (text !== undefined && pythonLength(text) > MAX_DESCRIPTION_LENGTH) {
    throw new InvalidInputError(
      `The ${what} is ${pythonLength(text)} characters; MLflow stores at most ${MAX_DESCRIPTION_LENGTH}.`,
    );
  }
  return text;
}

/**
 * A prompt's own tags (MLflow's registered-model tags) are `String(5000)` in its SQL models, unlike
 * a version's (`Text`, 100,000 by validation): SQLite keeps a longer value, MySQL and PostgreSQL
 * refuse it. Checked before the write, on every store alike.
 */
export const MAX_PROMPT_TAG_VALUE_LENGTH = 5_000;

export function validatePromptTagValue(key: string, value: string): string {
  const length = pythonLength(value);
  if (length > MAX_PROMPT_TAG_VALUE_LENGTH) {
    throw new InvalidInputError(
      `The value of prompt tag '${key}' is ${length} characters; MLflow stores at most ${MAX_PROMPT_TAG_VALUE_LENGTH} on a prompt.`,
    );
  }
  return value;
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

/**
 * Validates a model config as MLflow does and serialises it byte-for-byte as MLflow would: on the
 * tracking server normalised (known fields in MLflow's order, floats as floats, extras last); with
 * `asGiven`, as MLflow's Unity Catalog store writes it, the dict dumped as it came.
 */
export function serialiseModelConfig(
  config: Readonly<Record<string, unknown>>,
  { asGiven = false }: { asGiven?: boolean } = {},
): string {
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
  if (asGiven) return pythonJsonDumps(config as PyJsonValue);
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
