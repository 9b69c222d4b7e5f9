/** The predict function's configuration: the common variables and the prediction's settings. */
import * as z from 'zod';
import { predictSettingsRefinement, predictSettingsShape } from '../predict/settings';
import { commonEnvShape, parseEnv } from './env';

export const predictEnvSchema = z
  .object({ ...commonEnvShape, ...predictSettingsShape })
  .superRefine(predictSettingsRefinement);
export type PredictFunctionEnv = z.infer<typeof predictEnvSchema>;

export function parsePredictEnv(env: NodeJS.ProcessEnv): PredictFunctionEnv {
  return parseEnv(predictEnvSchema, env);
}
