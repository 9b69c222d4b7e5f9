/**
 * What `verify` reports: one line per prompt and alias (or one for the whole run when the registry
 * cannot be read), each with a stable code, a status and a message that says what to do.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';

export const CHECK_CODES = {
  ok: 'OK',
  promptMissing: 'PROMPT_MISSING',
  aliasMissing: 'ALIAS_MISSING',
  aliasVersionMissing: 'ALIAS_VERSION_MISSING',
  templateInvalid: 'TEMPLATE_INVALID',
  contractViolated: 'CONTRACT_VIOLATED',
  templateUnusable: 'TEMPLATE_UNUSABLE',
  responseFormatUnusable: 'RESPONSE_FORMAT_UNUSABLE',
  hashMismatch: 'CONTENT_HASH_MISMATCH',
  hashMissing: 'CONTENT_HASH_MISSING',
  stagingAhead: 'STAGING_AHEAD',
  fallbackDiffers: 'FALLBACK_DIFFERS',
  experimentInvalid: 'EXPERIMENT_INVALID',
  experimentVariantMissing: 'EXPERIMENT_VARIANT_MISSING',
  aliasUnrecorded: 'ALIAS_UNRECORDED',
  registryUnreachable: 'REGISTRY_UNREACHABLE',
  credentialsRefused: 'CREDENTIALS_REFUSED',
  registryFailed: 'REGISTRY_FAILED',
} as const;
export type CheckCode = (typeof CHECK_CODES)[keyof typeof CHECK_CODES];

export interface Check {
  /** The registry name, or `*` for a check about the whole run. */
  readonly prompt: string;
  readonly alias: string | null;
  readonly version: number | null;
  readonly status: CheckStatus;
  readonly code: CheckCode;
  readonly message: string;
}

export interface VerifyReport {
  /** False when any check failed; warnings leave it true. */
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

export function report(checks: readonly Check[]): VerifyReport {
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

export const check = (
  status: CheckStatus,
  code: CheckCode,
  message: string,
  where: { prompt: string; alias?: string | null; version?: number | null },
): Check => ({
  prompt: where.prompt,
  alias: where.alias ?? null,
  version: where.version ?? null,
  status,
  code,
  message,
});
