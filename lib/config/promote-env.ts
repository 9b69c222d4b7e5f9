/**
 * The promote function's configuration: the common variables, the alias lock table, and which
 * aliases only which principals may move.
 */
import * as z from 'zod';
import { checked } from '../http/request';
import { patternProblem } from '../promote/authorize';
import { validateAliasName } from '../prompts/names';
import { commonEnvShape, parseEnv } from './env';

const splitList = (value: string) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');

const csv = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value) => splitList(value ?? fallback));

/** Checks each item with `check`, which throws a message for a bad one. */
function each(check: (item: string) => unknown) {
  const one = checked(check);
  return (items: readonly string[], ctx: z.RefinementCtx) => {
    for (const item of items) one(item, ctx);
  };
}

/** Who may move which alias, and the lock moves take: the promote and rollout functions alike. */
export const moveEnvShape = {
  PROMOTE_LOCK_TABLE: z.string().trim().min(3, 'expected the alias lock table name'),
  /** Aliases only the principals below may move; `none` for none (empty is refused: a typo?). */
  PROTECTED_ALIASES: z
    .string()
    .optional()
    .transform((value) => value ?? 'production')
    .superRefine((value, ctx) => {
      if (value.trim() === '') ctx.addIssue({ code: 'custom', message: "expected aliases, or 'none'" });
    })
    .transform((value) => (value.trim().toLowerCase() === 'none' ? [] : splitList(value)))
    .superRefine(each(validateAliasName)),
  /** ARN patterns (`*`, `?`); empty: nobody may move a protected alias. */
  PROTECTED_ALIAS_PRINCIPALS: csv('').superRefine(
    each((pattern) => {
      const problem = patternProblem(pattern);
      if (problem) throw new Error(problem);
    }),
  ),
  /** How long a move waits for another move of the same alias before answering 409. */
  PROMOTE_LOCK_WAIT_MS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 10_000 : Number(v)))
    .pipe(z.number().int('expected a whole number of milliseconds').min(0).max(15_000)),
};

export const promoteEnvSchema = z.object({ ...commonEnvShape, ...moveEnvShape });
export type PromoteEnv = z.infer<typeof promoteEnvSchema>;

export function parsePromoteEnv(env: NodeJS.ProcessEnv): PromoteEnv {
  return parseEnv(promoteEnvSchema, env);
}
