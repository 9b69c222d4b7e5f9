export type { JsonObject } from '../prompts/metadata';
export {
  type AuthSettings,
  authFromEnv,
  basicAuth,
  bearerAuth,
  type RegistryAuth,
  resolveAuth,
} from './auth';
export {
  createRegistryClient,
  type RegisterPromptInput,
  type RegistryClient,
  type RegistryClientOptions,
  type SearchOptions,
} from './client';
export type {
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
export { nameIn } from './dialects/oss-resolve-prompts';
export type { Prompt, PromptType, PromptVersion } from './prompt-version';
export type { Tracking } from './tracking';
