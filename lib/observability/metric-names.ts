/**
 * Every metric the functions emit, in one list: the handlers and the core add metrics by these
 * names only (the `Metrics` port accepts nothing else), and the template test checks any alarm
 * the stack defines against this list, so a renamed metric cannot leave an alarm watching nothing.
 *
 * Each metric carries the dimensions `service` and `function`; Powertools' cold-start metric
 * carries `function_name` as well.
 */

/** The default namespace; `POWERTOOLS_METRICS_NAMESPACE` (the `metricsNamespace` param) replaces it. */
export const DEFAULT_METRICS_NAMESPACE = 'PromptOps';

export const METRIC_DIMENSIONS = ['service', 'function'] as const;
/** Verify's failures and warnings are also counted per prompt and alias. */
export const VERIFY_PROMPT_DIMENSIONS = [...METRIC_DIMENSIONS, 'prompt', 'alias'] as const;

/** Powertools' metric for an invocation that started a new execution environment. */
export const COLD_START_METRIC = 'ColdStart';
export const COLD_START_DIMENSIONS = [...METRIC_DIMENSIONS, 'function_name'] as const;

export const REGISTER_METRICS = {
  versionRegistered: 'VersionRegistered',
  uploadUnchanged: 'UploadUnchanged',
  registrationFailed: 'RegistrationFailed',
  /** A prompt file that is itself wrong (or gone): refused, not retried. */
  uploadRefused: 'UploadRefused',
  /** An upload's alias move may have happened without its history record (alarmed). */
  auditIncomplete: 'AuditIncomplete',
  experimentListingFailed: 'ExperimentListingFailed',
  invocationFailed: 'InvocationFailed',
} as const;

export const PROMOTE_METRICS = {
  aliasMoved: 'AliasMoved',
  aliasMoveUnchanged: 'AliasMoveUnchanged',
  aliasRolledBack: 'AliasRolledBack',
  auditIncomplete: 'AuditIncomplete',
  moveRefused: 'MoveRefused',
  /** An experiment started, changed or stopped through the API. */
  experimentChanged: 'ExperimentChanged',
  requestFailed: 'RequestFailed',
} as const;

/** The guarded rollout (functions/rollout): one of each per experiment and run. */
export const ROLLOUT_METRICS = {
  /** One per run: its absence is the not-running alarm. */
  runs: 'RolloutRuns',
  advanced: 'RolloutAdvanced',
  held: 'RolloutHeld',
  /** A guardrail broke: the variant's share is back to 0 and the experiment halted. Alarmed. */
  halted: 'RolloutHalted',
  completed: 'RolloutCompleted',
  /** The rollout could not decide or act (registry, traces, a refused promotion). Alarmed. */
  failed: 'RolloutFailed',
} as const;

export const PREDICT_METRICS = {
  registry: 'PromptsFromRegistry',
  cache: 'PromptsFromCache',
  stale: 'PromptsStale',
  fallback: 'PromptsFallback',
  refreshFailed: 'PromptRefreshFailed',
  traceExported: 'TraceExported',
  traceFailed: 'TraceExportFailed',
  linkFailed: 'PromptLinkFailed',
  experimentLinkFailed: 'PromptExperimentLinkFailed',
  classifierFallback: 'ClassifierFallback',
  /** A domain's provided data (system tables) could not be read: its worker answered without. */
  dataUnavailable: 'DataUnavailable',
  /** A request assigned to an experiment's variant that could not be loaded: control served. */
  variantFallback: 'ExperimentVariantFallback',
  modelTokens: 'ModelTokens',
  requestRefused: 'RequestRefused',
  modelFailed: 'ModelFailed',
  deadlineExceeded: 'DeadlineExceeded',
  requestFailed: 'RequestFailed',
} as const;

export const VERIFY_METRICS = {
  runs: 'VerifyRuns',
  failures: 'VerifyFailures',
  warnings: 'VerifyWarnings',
} as const;

type ValueOf<T> = T[keyof T];
export type MetricName =
  | ValueOf<typeof REGISTER_METRICS>
  | ValueOf<typeof PROMOTE_METRICS>
  | ValueOf<typeof PREDICT_METRICS>
  | ValueOf<typeof VERIFY_METRICS>
  | ValueOf<typeof ROLLOUT_METRICS>;

/** Every name above, the cold-start metric included: what an alarm may watch. */
export const METRIC_NAMES: ReadonlySet<string> = new Set([
  COLD_START_METRIC,
  ...Object.values(REGISTER_METRICS),
  ...Object.values(PROMOTE_METRICS),
  ...Object.values(PREDICT_METRICS),
  ...Object.values(VERIFY_METRICS),
  ...Object.values(ROLLOUT_METRICS),
]);
