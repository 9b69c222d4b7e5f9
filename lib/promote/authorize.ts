/**
 * Who is calling, and whether they may move a given alias. API Gateway's IAM authorizer checks
 * the SigV4 signature and puts the signer's ARN in the request context; the function trusts that
 * context alone, never a header, so nothing a client sends can name another principal.
 *
 * Protected aliases (by default `production`) may be moved only by principals matching one of
 * the configured ARN patterns; an empty list means nobody may move them.
 */
import { ForbiddenError, UnauthorizedError } from '../errors';

export interface ProtectionPolicy {
  readonly protectedAliases: readonly string[];
  /** ARN patterns; `*` matches any run of characters, `?` one character. */
  readonly allowedPrincipals: readonly string[];
}

interface IamRequestContext {
  readonly requestContext?: { readonly authorizer?: { readonly iam?: { readonly userArn?: unknown } } };
}

const ARN = /^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:\S+$/;

/** The caller's ARN from the IAM authorizer's context; 401 when there is none. */
export function principalOf(event: unknown): string {
  const arn = (event as IamRequestContext | null)?.requestContext?.authorizer?.iam?.userArn;
  if (typeof arn !== 'string' || !ARN.test(arn)) {
    throw new UnauthorizedError(
      'The request carries no authenticated AWS principal: sign it with SigV4 (IAM authorization).',
    );
  }
  return arn;
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
