/**
 * The shapes the tracking server's REST API (the OSS dialect's) answers with (protobuf JSON,
 * snake_case). Only what we read is required; unknown fields pass, because newer servers add some.
 * Proto JSON leaves out empty repeated fields, so lists default to empty.
 */
import * as z from 'zod';

const tag = z.object({ key: z.string(), value: z.string().default('') });
const tags = z.array(tag).default([]);

const modelVersionSchema = z.looseObject({
  name: z.string(),
  version: z.string().regex(/^\d+$/, 'a version number'),
  creation_timestamp: z.number().optional(),
  last_updated_timestamp: z.number().optional(),
  user_id: z.string().optional(),
  description: z.string().optional(),
  status: z.string().optional(),
  tags,
  aliases: z.array(z.string()).default([]),
});
export type WireModelVersion = z.infer<typeof modelVersionSchema>;

const registeredModelSchema = z.looseObject({
  name: z.string(),
  creation_timestamp: z.number().optional(),
  last_updated_timestamp: z.number().optional(),
  user_id: z.string().optional(),
  description: z.string().optional(),
  latest_versions: z.array(modelVersionSchema).default([]),
  tags,
  aliases: z.array(z.object({ alias: z.string(), version: z.string() })).default([]),
});
export type WireRegisteredModel = z.infer<typeof registeredModelSchema>;

export const registeredModelResponse = z.object({ registered_model: registeredModelSchema });
export const modelVersionResponse = z.object({ model_version: modelVersionSchema });
export const searchRegisteredModelsResponse = z.object({
  registered_models: z.array(registeredModelSchema).default([]),
  next_page_token: z.string().optional(),
});
export const searchModelVersionsResponse = z.object({
  model_versions: z.array(modelVersionSchema).default([]),
  next_page_token: z.string().optional(),
});
/** Mutations that answer `{}`. */
export const emptyResponse = z.object({});
