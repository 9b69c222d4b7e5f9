/** The verify function's configuration: the common variables and the aliases it checks. */
import * as z from 'zod';
import { checked } from '../http/request';
import { validateWritableAlias } from '../prompts/names';
import { commonEnvShape, parseEnv } from './env';

export const verifyEnvSchema = z.object({
  ...commonEnvShape,
  /** Comma list of the aliases the agent loads (default production and staging). */
  VERIFY_ALIASES: z
    .string()
    .optional()
    .transform((value) =>
      (value?.trim() ? value : 'production,staging')
        .split(',')
        .map((alias) => alias.trim())
        .filter((alias) => alias !== ''),
    )
    .superRefine((aliases, ctx) => {
      // Set, but only commas and spaces: checking no alias would pass every run.
      if (aliases.length === 0)
        ctx.addIssue({ code: 'custom', message: 'expected alias names (unset: production,staging)' });
      for (const alias of aliases) checked(validateWritableAlias)(alias, ctx);
    })
    .transform((aliases) => [...new Set(aliases)]),
});
export type VerifyEnv = z.infer<typeof verifyEnvSchema>;

export function parseVerifyEnv(env: NodeJS.ProcessEnv): VerifyEnv {
  return parseEnv(verifyEnvSchema, env);
}
