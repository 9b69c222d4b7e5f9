/**
 * The rollout function's configuration: the common variables, the move rules it shares with the
 * promote function (it moves `production` at the end of a rollout), the MLflow experiment the
 * agent's traces go to, and how a window is judged.
 */
import * as z from 'zod';
import { experimentEnvShape, oneExperiment } from '../registry/experiments';
import { commonEnvShape, parseEnv } from './env';
import { moveEnvShape } from './promote-env';

const numberOr = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? fallback : Number(v)));

export const rolloutEnvSchema = z
  .object({
    ...commonEnvShape,
    ...moveEnvShape,
    ...experimentEnvShape,
    /** The role the function runs as: with its name, the principal its moves are made by. */
    ROLLOUT_ROLE_NAME: z
      .string()
      .trim()
      .regex(/^[\w+=,.@-]{1,64}$/, 'expected an IAM role name'),
    /** Observations each arm needs in a window before a guardrail is judged (default 100). */
    ROLLOUT_MIN_SAMPLES: numberOr(100).pipe(z.number().int('expected a whole number').min(10).max(1_000_000)),
    /** Each guardrail's interval is a 1 - alpha interval (default 0.05: 95 %). */
    ROLLOUT_ALPHA: numberOr(0.05).pipe(z.number().gt(0).lt(0.5)),
    /** `trace`: a request's latency is its trace's duration; `model`: what the model endpoint reported. */
    ROLLOUT_LATENCY: z.enum(['trace', 'model']).default('trace'),
  })
  .superRefine(oneExperiment);
export type RolloutEnv = z.infer<typeof rolloutEnvSchema>;

export function parseRolloutEnv(env: NodeJS.ProcessEnv): RolloutEnv {
  return parseEnv(rolloutEnvSchema, env);
}
