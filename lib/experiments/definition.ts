/**
 * A prompt's experiment: traffic split between its control alias (`production`) and one to three
 * variant aliases, by weights in basis points, assigned by user, session or request. It lives in
 * the registry beside the aliases, as the prompt-level tag `promptops.experiment` (JSON), so
 * whoever resolves the prompt's aliases reads it in the same requests. Every change raises its
 * revision (optimistic concurrency, and the revision is on every trace it assigns).
 *
 * The tag is checked on the way in and on the way out: a malformed one is an error that names
 * the field, and never silently a different split.
 */
import * as z from 'zod';
import { InvalidInputError, zodIssues } from '../errors';
import { validateAliasName } from '../prompts/names';
import type { Prompt } from '../registry/prompt-version';
import { TAG_KEYS } from '../registry/tag-keys';

/** The prompt tag an experiment is kept in. */
export const EXPERIMENT_TAG = TAG_KEYS.oss.experiment;

/** The whole of the traffic, in basis points. */
export const ALL_TRAFFIC_BP = 10_000;
export const MAX_VARIANTS = 3;

export const ASSIGNMENT_KEYS = ['user', 'session', 'request'] as const;
export type AssignmentKey = (typeof ASSIGNMENT_KEYS)[number];

export const GUARD_METRICS = [
  'error_rate',
  'fallback_rate',
  'p95_latency',
  'mean_tokens',
  'feedback',
] as const;

const alias = z.string().refine(
  (value) => {
    try {
      validateAliasName(value);
      return value.toLowerCase() !== 'latest';
    } catch {
      return false;
    }
  },
  { message: "expected an alias: letters, digits, '_' or '-' (not 'latest')" },
);

/** Metrics that are rates: limits in percentage points make sense for them only. */
export const RATE_METRICS: ReadonlySet<string> = new Set(['error_rate', 'fallback_rate', 'feedback']);

export const guardSchema = z.strictObject({
  metric: z.enum(GUARD_METRICS),
  /** The variant's value minus control's may be at most (`<=`) or at least (`>=`) the limit. */
  comparison: z.enum(['<=', '>=']),
  limit: z.number().finite(),
  /** `pp`: percentage points of a rate; `%`: relative to control's value. */
  unit: z.enum(['pp', '%']),
});

/**
 * What a new guardrail must also be (the API and the CLI check it; a stored definition is read
 * with guardSchema alone, so a guard accepted before these rules still reads).
 */
export const newGuardSchema = guardSchema
  .refine((g) => (g.unit === 'pp') === RATE_METRICS.has(g.metric), {
    // A relative limit on a rate has nothing to stand on when control's rate is 0 (the usual
    // error rate): rates take points, the rest a share of control's value.
    message: "rates (error_rate, fallback_rate, feedback) take limits in 'pp', the others in '%'",
  })
  .refine((g) => g.comparison === (g.metric === 'feedback' ? '>=' : '<='), {
    message:
      "a guardrail bounds how much worse the variant may be: '<=' for error_rate, fallback_rate, p95_latency and mean_tokens, '>=' for feedback",
  });
export type Guard = z.infer<typeof guardSchema>;

/** A rollout's steps, the variant's share in percent; the last must be 100 (checked with the rest). */
export const rolloutStepsSchema = z
  .array(z.number().int().min(1).max(100))
  .min(2, 'expected at least two steps, the last 100')
  .max(10);

const variant = z.strictObject({
  alias,
  weight_bp: z.number().int('expected whole basis points').min(0).max(ALL_TRAFFIC_BP),
  /** The version the alias served when the split was set: what a rollout judges and promotes. */
  version: z.number().int().positive().optional(),
});

export const experimentSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lowercase letters, digits and dashes (at most 63)'),
    revision: z.number().int().positive(),
    control: alias,
    /** The version control served when the split was set: a rollout halts if it moves meanwhile. */
    control_version: z.number().int().positive().optional(),
    variants: z
      .array(variant)
      .min(1, 'expected 1 to 3 variants')
      .max(MAX_VARIANTS, 'expected 1 to 3 variants'),
    key: z.enum(ASSIGNMENT_KEYS),
    /** `halted`: stopped (by a person, or a broken guardrail); `completed`: rolled out to control. */
    status: z.enum(['running', 'halted', 'completed']),
    started_at: z.iso.datetime(),
    ends_at: z.iso.datetime().optional(),
    guardrails: z.array(guardSchema).max(10).optional(),
    /**
     * A guarded rollout: the variant's share, step by step, in percent. The last is 100: reaching
     * it is the promotion of the variant to the control alias, so `step` never points at it.
     */
    rollout: z
      .strictObject({
        steps: rolloutStepsSchema,
        step: z.number().int().min(0),
      })
      .optional(),
  })
  .superRefine((e, ctx) => {
    const aliases = e.variants.map((v) => v.alias);
    if (new Set(aliases).size !== aliases.length)
      ctx.addIssue({ code: 'custom', path: ['variants'], message: 'each variant alias once' });
    if (aliases.includes(e.control))
      ctx.addIssue({
        code: 'custom',
        path: ['control'],
        message: 'the control alias cannot also be a variant',
      });
    const total = e.variants.reduce((sum, v) => sum + v.weight_bp, 0);
    if (total > ALL_TRAFFIC_BP)
      ctx.addIssue({
        code: 'custom',
        path: ['variants'],
        message: `the variants' weights add up to ${total} basis points, more than ${ALL_TRAFFIC_BP}`,
      });
    if (e.ends_at !== undefined && Date.parse(e.ends_at) <= Date.parse(e.started_at))
      ctx.addIssue({ code: 'custom', path: ['ends_at'], message: 'expected a time after started_at' });
    if (e.rollout) {
      const { steps, step } = e.rollout;
      if (steps.some((s, i) => i > 0 && s <= (steps[i - 1] as number)))
        ctx.addIssue({
          code: 'custom',
          path: ['rollout', 'steps'],
          message: 'expected increasing percentages',
        });
      if (steps.at(-1) !== 100)
        ctx.addIssue({
          code: 'custom',
          path: ['rollout', 'steps'],
          message: 'expected the last step to be 100',
        });
      if (step >= steps.length - 1)
        ctx.addIssue({
          code: 'custom',
          path: ['rollout', 'step'],
          message: 'expected a step of the rollout before its last (100 is the promotion)',
        });
      if (e.variants.length !== 1)
        ctx.addIssue({ code: 'custom', path: ['rollout'], message: 'a rollout has exactly one variant' });
      if ((e.guardrails ?? []).length === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['guardrails'],
          message: 'a rollout advances only on guardrails: give at least one',
        });
    }
  });

export type ExperimentDefinition = z.infer<typeof experimentSchema>;

/** Checks a definition, naming each wrong field. */
export function validateExperiment(value: unknown): ExperimentDefinition {
  const parsed = experimentSchema.safeParse(value);
  if (!parsed.success) {
    const { issues, line } = zodIssues(parsed.error);
    throw new InvalidInputError(`Invalid experiment: ${line}`, { issues });
  }
  return parsed.data;
}

/** The tag value: the definition as JSON, keys in the schema's order. */
export function experimentTagValue(definition: ExperimentDefinition): string {
  return JSON.stringify(validateExperiment(definition));
}

/** The definition a prompt's tag holds; InvalidInputError (naming the prompt) when it is malformed. */
export function parseExperimentTag(prompt: string, value: string): ExperimentDefinition {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new InvalidInputError(`The experiment tag of prompt '${prompt}' is not JSON.`);
  }
  try {
    return validateExperiment(json);
  } catch (error) {
    throw new InvalidInputError(`The experiment tag of prompt '${prompt}': ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Whether the experiment takes traffic at `now`: running, started, not ended. */
export function isLive(definition: ExperimentDefinition, now: number): boolean {
  if (definition.status !== 'running') return false;
  if (now < Date.parse(definition.started_at)) return false;
  return definition.ends_at === undefined || now < Date.parse(definition.ends_at);
}

/** The experiment a prompt's tag holds, or why it cannot be read. */
export function experimentOf(prompt: Prompt): {
  experiment: ExperimentDefinition | null;
  problem: string | null;
} {
  const value = prompt.tags[EXPERIMENT_TAG];
  if (value === undefined || value === '') return { experiment: null, problem: null };
  try {
    return { experiment: parseExperimentTag(prompt.name, value), problem: null };
  } catch (error) {
    return { experiment: null, problem: (error as Error).message };
  }
}

/** The experiment, stopped at `at`: no traffic to its variants from then on. */
export function endedExperiment(
  e: ExperimentDefinition,
  status: 'halted' | 'completed',
  at: string,
): ExperimentDefinition {
  const ends = Date.parse(at) > Date.parse(e.started_at) ? { ends_at: at } : {};
  return { ...e, status, ...ends };
}
