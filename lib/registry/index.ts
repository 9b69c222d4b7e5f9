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
// The shapes every dialect answers in (prompts, pages, resolved targets, links) and the dialect interface.
export type * from './dialect';
export type { Prompt, PromptType, PromptVersion } from './prompt-version';
export type { Tracking } from './tracking';
