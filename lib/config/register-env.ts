/** The register function's configuration: the common variables, the bucket and prefix it watches, the experiment. */
import * as z from 'zod';
import { experimentEnvShape, oneExperiment } from '../registry/experiments';
import { commonEnvShape, parseEnv } from './env';

export const registerEnvSchema = z
  .object({
    ...commonEnvShape,
    ...experimentEnvShape,
    PROMPTS_BUCKET: z.string().trim().min(3, 'expected the prompts bucket name'),
    PROMPTS_PREFIX: z.string().default('prompts/'),
    /** The promote API's alias lock table; unset (a local run), uploads move aliases unlocked. */
    PROMOTE_LOCK_TABLE: z.string().trim().min(3, 'expected the alias lock table name').optional(),
  })
  .superRefine(oneExperiment);
export type RegisterEnv = z.infer<typeof registerEnvSchema>;

export function parseRegisterEnv(env: NodeJS.ProcessEnv): RegisterEnv {
  return parseEnv(registerEnvSchema, env);
}
