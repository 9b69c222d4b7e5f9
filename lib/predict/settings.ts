/**
 * How a stage runs the agent, from its environment (the function's, or the CLI's): which alias it
 * loads (`production` in production, `staging` on a staging stack), prompts pinned to a version or
 * another alias, cache and time budgets, the model's token cap, what goes into traces, and the
 * MLflow experiment the traces go to. Parsed once, with errors that name the variable.
 */
import * as z from 'zod';
import {
  type AgentContract,
  type AgentPrompt,
  BUILT_IN_CONTRACT,
  isAgentPrompt,
  notAgentPrompt,
} from '../agent/contract';
import { checked } from '../http/request';
import { validateAliasName, validateVersion } from '../prompts/names';
import {
  type ExperimentRef,
  experimentEnvShape,
  experimentRef,
  oneExperiment,
} from '../registry/experiments';
import type { ContentPolicy } from '../tracing/attributes';

const int = (fallback: number, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? fallback : Number(v)))
    .pipe(
      z
        .number()
        .int('expected a whole number')
        .min(min, `expected at least ${min}`)
        .max(max, `expected at most ${max}`),
    );

/** Where one prompt comes from, when not from the stage's alias. */
export type PromptPin = { readonly version: number } | { readonly alias: string };

/** `orchestrator=3,cost_worker@canary`: a version or another alias for some of the agent's prompts. */
export function parsePins(
  text: string,
  contract: AgentContract = BUILT_IN_CONTRACT,
): Map<AgentPrompt, PromptPin> {
  const pins = new Map<AgentPrompt, PromptPin>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const match = /^([A-Za-z0-9_]+)\s*(=|@)\s*(.+)$/.exec(part);
    if (!match) throw new Error(`'${part}': expected prompt=version or prompt@alias`);
    const [, key = '', how, value = ''] = match;
    if (!isAgentPrompt(key, contract)) throw new Error(notAgentPrompt(key, contract));
    if (pins.has(key)) throw new Error(`'${key}' is pinned twice`);
    pins.set(key, how === '=' ? { version: validateVersion(value) } : { alias: validateAliasName(value) });
  }
  return pins;
}

export const predictSettingsShape = {
  /** The alias every prompt is loaded by, unless pinned. */
  PREDICT_ALIAS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'production' : v.trim()))
    .superRefine(checked(validateAliasName)),
  /** Prompts pinned to a version (`name=3`) or another alias (`name@canary`), comma-separated. */
  PREDICT_PROMPT_PINS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parsePins(v ?? '');
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** How long a loaded alias is served before it is refreshed (alongside an invocation). */
  PREDICT_PROMPT_TTL_MS: int(60_000, { min: 0 }),
  /** The most loading may take before the cached or bundled versions are used. */
  PREDICT_LOAD_BUDGET_MS: int(3_000, { min: 100, max: 20_000 }),
  /** The most exporting the trace and linking its prompts may take before the answer goes out. */
  PREDICT_TRACE_BUDGET_MS: int(5_000, { min: 100, max: 20_000 }),
  /** The cap on every model call's max_tokens (and its value when a prompt's model config sets none). */
  PREDICT_MAX_TOKENS: int(1_024, { max: 32_768 }),
  /** `full`: questions, data and answers are recorded in the trace; `metadata`: only their sizes. */
  PREDICT_TRACE_CONTENT: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'full' : v.trim().toLowerCase()))
    .pipe(z.enum(['full', 'metadata'])),
  /** The longest JSON kept in one span input or output; longer is cut, with a marker. */
  PREDICT_TRACE_MAX_CHARS: int(16_000, { min: 100, max: 1_000_000 }),
  /** The experiment traces go to, by id or by name (created if missing); default MLflow's default, `0`. */
  ...experimentEnvShape,
  /**
   * Where a domain worker's data comes from when the request brings none: `request` (none: the
   * worker says so) or `system-tables` (Databricks system tables on DATABRICKS_WAREHOUSE_ID).
   */
  PREDICT_DATA_SOURCE: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'request' : v.trim().toLowerCase()))
    .pipe(z.enum(['request', 'system-tables'])),
  DATABRICKS_WAREHOUSE_ID: z
    .string()
    .optional()
    .transform((v) => (v?.trim() ? v.trim() : undefined))
    .pipe(
      z
        .string()
        .regex(/^[A-Za-z0-9-]{1,64}$/, 'expected a SQL warehouse id (letters, digits, dashes)')
        .optional(),
    ),
  /** Rows per domain from the system tables. */
  PREDICT_DATA_MAX_ROWS: int(10, { max: 100 }),
  /** The most one domain's statement may take (the invocation's deadline bounds it further). */
  PREDICT_DATA_TIMEOUT_MS: int(8_000, { min: 1_000, max: 15_000 }),
};

/** Loading and the trace together may take at most this much of the function's 29 s: the model needs the rest. */
export const MAX_BUDGETS_MS = 20_000;

/** The checks across variables: one experiment, and budgets that leave the model time. */
export function predictSettingsRefinement(
  env: {
    MLFLOW_EXPERIMENT_ID?: string | undefined;
    MLFLOW_EXPERIMENT_NAME?: string | undefined;
    PREDICT_LOAD_BUDGET_MS: number;
    PREDICT_TRACE_BUDGET_MS: number;
    PREDICT_DATA_SOURCE?: string;
    DATABRICKS_WAREHOUSE_ID?: string | undefined;
    PREDICT_DATA_TIMEOUT_MS?: number;
  },
  ctx: z.RefinementCtx,
): void {
  oneExperiment(env, ctx);
  if (env.PREDICT_LOAD_BUDGET_MS + env.PREDICT_TRACE_BUDGET_MS > MAX_BUDGETS_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['PREDICT_TRACE_BUDGET_MS'],
      message: `PREDICT_LOAD_BUDGET_MS and PREDICT_TRACE_BUDGET_MS together at most ${MAX_BUDGETS_MS}: the model needs the rest`,
    });
  }
  // The domains' statements run before their workers' model calls: their time is the model's too.
  const dataMs = env.PREDICT_DATA_SOURCE === 'system-tables' ? (env.PREDICT_DATA_TIMEOUT_MS ?? 0) : 0;
  if (dataMs > 0 && env.PREDICT_LOAD_BUDGET_MS + env.PREDICT_TRACE_BUDGET_MS + dataMs > MAX_BUDGETS_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['PREDICT_DATA_TIMEOUT_MS'],
      message: `with system-tables, PREDICT_LOAD_BUDGET_MS, PREDICT_TRACE_BUDGET_MS and PREDICT_DATA_TIMEOUT_MS together at most ${MAX_BUDGETS_MS}: the model needs the rest`,
    });
  }
  if (env.PREDICT_DATA_SOURCE === 'system-tables' && !env.DATABRICKS_WAREHOUSE_ID) {
    ctx.addIssue({
      code: 'custom',
      path: ['DATABRICKS_WAREHOUSE_ID'],
      message: 'PREDICT_DATA_SOURCE=system-tables reads on a SQL warehouse: set its id',
    });
  }
}

const settingsSchema = z.object(predictSettingsShape).superRefine(predictSettingsRefinement);
export type PredictEnv = z.infer<typeof settingsSchema>;
export { settingsSchema as predictSettingsSchema };

export interface DataSettings {
  readonly source: 'request' | 'system-tables';
  readonly warehouseId: string | undefined;
  readonly maxRows: number;
  readonly timeoutMs: number;
}

/** The default: the request brings the data. */
export const REQUEST_DATA: DataSettings = {
  source: 'request',
  warehouseId: undefined,
  maxRows: 10,
  timeoutMs: 8_000,
};

export interface PredictSettings {
  readonly alias: string;
  readonly pins: ReadonlyMap<AgentPrompt, PromptPin>;
  readonly ttlMs: number;
  readonly loadBudgetMs: number;
  readonly traceBudgetMs: number;
  readonly maxTokens: number;
  readonly content: ContentPolicy;
  readonly experiment: ExperimentRef;
  readonly data: DataSettings;
}

export function predictSettings(env: PredictEnv): PredictSettings {
  return {
    alias: env.PREDICT_ALIAS,
    pins: env.PREDICT_PROMPT_PINS,
    ttlMs: env.PREDICT_PROMPT_TTL_MS,
    loadBudgetMs: env.PREDICT_LOAD_BUDGET_MS,
    traceBudgetMs: env.PREDICT_TRACE_BUDGET_MS,
    maxTokens: env.PREDICT_MAX_TOKENS,
    content: { mode: env.PREDICT_TRACE_CONTENT, maxChars: env.PREDICT_TRACE_MAX_CHARS },
    experiment: experimentRef(env),
    data: {
      source: env.PREDICT_DATA_SOURCE,
      warehouseId: env.DATABRICKS_WAREHOUSE_ID,
      maxRows: env.PREDICT_DATA_MAX_ROWS,
      timeoutMs: env.PREDICT_DATA_TIMEOUT_MS,
    },
  };
}
