/**
 * Whether a caller (lib/http/principal.ts says who) may move a given alias. Protected aliases (by
 * default `production`) may be moved only by principals matching one of the configured ARN
 * patterns; an empty list means nobody may move them.
 */
import { ForbiddenError } from '../errors';

export interface ProtectionPolicy {
  readonly protectedAliases: readonly string[];
  /** ARN patterns; `*` matches any run of characters, `?` one character. */
  readonly allowedPrincipals: readonly string[];
}

function patternToRegExp(pattern: string): RegExp {
  const body = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

/** Case does not matter: `Production` is as protected as `production` (fails closed). */
export function isProtected(policy: ProtectionPolicy, alias: string): boolean {
  const wanted = alias.toLowerCase();
  return policy.protectedAliases.some((p) => p.toLowerCase() === wanted);
}

/**
 * A pattern that can never match a caller, because IAM roles reach API Gateway as their STS
 * session (`arn:aws:sts::<account>:assumed-role/<role>/<session>`), never as the role's own ARN.
 */
export function patternProblem(pattern: string): string | undefined {
  if (/^arn:[^:]+:iam::[^:]*:role\//.test(pattern)) {
    return (
      `'${pattern}' names an IAM role, which never calls as itself: use ` +
      "'arn:aws:sts::<account>:assumed-role/<role name>/*'"
    );
  }
  if (!pattern.startsWith('arn:')) return `'${pattern}' is not an ARN pattern`;
  return undefined;
}

/** Throws 403 when `principal` may not move `alias`. */
export function assertMayMove(policy: ProtectionPolicy, alias: string, principal: string): void {
  if (!isProtected(policy, alias)) return;
  if (policy.allowedPrincipals.some((pattern) => patternToRegExp(pattern).test(principal))) return;
  throw new ForbiddenError(
    `The alias '${alias}' is protected: only the principals listed in PROTECTED_ALIAS_PRINCIPALS ` +
      `may move it, and ${principal} is not one of them.`,
  );
}
