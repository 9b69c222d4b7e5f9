export {
  type AuthSettings,
  authFromEnv,
  basicAuth,
  bearerAuth,
  type RegistryAuth,
  resolveAuth,
} from './auth';
export {
  type CreatePromptInput,
  createRegistryClient,
  type LinkResult,
  type Page,
  type PromptState,
  type RegisterPromptInput,
  type RegistryClient,
  type RegistryClientOptions,
  type SearchOptions,
  type VersionRef,
} from './client';
export { DEFAULT_RETRY, type RetryPolicy } from './http';
export {
  IS_PROMPT_TAG,
  type JsonObject,
  MAX_TAG_VALUE_LENGTH,
  MODEL_CONFIG_TAG,
  PROMPT_TEXT_TAG,
  PROMPT_TYPE_TAG,
  type Prompt,
  type PromptType,
  type PromptVersion,
  RESPONSE_FORMAT_TAG,
} from './prompt-version';
export {
  type MissingPrompt,
  nameIn,
  type PromptTarget,
  type ResolvedPrompt,
  type ResolveOptions,
} from './resolve-prompts';
export { type Tracking, validateExperimentId } from './tracking';
