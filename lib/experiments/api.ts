/**
 * The experiment routes of the promote API (`POST`, `GET`, `DELETE /prompts/{name}/experiment`):
 * request bodies as strict schemas and the shapes of the answers, shared by the function and the
 * CLI so both refuse the same input in the same words.
 */
import * as z from 'zod';
import { MAX_REASON_LENGTH } from '../promote/move-alias';
import {
  ALL_TRAFFIC_BP,
  ASSIGNMENT_KEYS,
  type ExperimentDefinition,
  MAX_VARIANTS,
  newGuardSchema,
  rolloutStepsSchema,
} from './definition';
import type { ExperimentRecord } from './history';

const reason = z.string().trim().min(1).max(MAX_REASON_LENGTH);
const expectedRevision = z
  .number({ error: 'expected a revision number (a positive integer), or null for no experiment' })
  .int()
  .positive()
  .nullable();

export const startBodySchema = z.strictObject({
  /** Lowercase letters, digits and dashes; the same id again changes the running experiment. */
  id: z.string(),
  /** The alias most traffic is served (default `production`). */
  control: z.string().optional(),
  /** Each variant alias and its share in basis points (omitted with a rollout: its first step). */
  variants: z
    .array(
      z.strictObject({
        alias: z.string(),
        weight_bp: z.number().int('expected whole basis points').min(0).max(ALL_TRAFFIC_BP).optional(),
      }),
    )
    .min(1, `expected 1 to ${MAX_VARIANTS} variants`)
    .max(MAX_VARIANTS, `expected 1 to ${MAX_VARIANTS} variants`),
  /** What keeps a caller in one arm (default `user`). */
  key: z.enum(ASSIGNMENT_KEYS).optional(),
  ends_at: z.iso.datetime().optional(),
  /** `error_rate<=+1pp,p95_latency<=+20%`, or the same as objects. */
  guardrails: z.union([z.string(), z.array(newGuardSchema).max(10)]).optional(),
  /** A guarded rollout of the one variant: its share step by step, in percent, ending at 100 (the promotion). */
  rollout: z.strictObject({ steps: rolloutStepsSchema }).optional(),
  /** The revision the experiment has now; `null`: there must be none running. Absent: no check. */
  expectedRevision: expectedRevision.optional(),
  reason: reason.optional(),
});
export type StartBody = z.infer<typeof startBodySchema>;

export const stopBodySchema = z.strictObject({
  expectedRevision: expectedRevision.optional(),
  reason: reason.optional(),
});
export type StopBody = z.infer<typeof stopBodySchema>;

/** What a start, change or stop answers. */
export interface ExperimentChange {
  /** The agent's name for the prompt. */
  readonly prompt: string;
  /** The registry name. */
  readonly name: string;
  readonly action: ExperimentRecord['action'];
  /** False when the experiment already was as asked (nothing written). */
  readonly changed: boolean;
  readonly experiment: ExperimentDefinition;
  readonly previousRevision: number | null;
  readonly by: string;
  readonly at: string;
}

/** What `GET /prompts/{name}/experiment` answers. */
export interface ExperimentDetails {
  readonly prompt: string;
  readonly name: string;
  /** The prompt's experiment (running or not), or null when it never had one. */
  readonly experiment: ExperimentDefinition | null;
  /** Set when the prompt's experiment tag cannot be read (edited by hand): why. */
  readonly problem: string | null;
  readonly aliases: Readonly<Record<string, number>>;
  /** Newest first. */
  readonly history: readonly ExperimentRecord[];
}
