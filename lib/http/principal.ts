/**
 * Who is calling an HTTP API function. API Gateway's IAM authorizer checks the SigV4 signature
 * and puts the signer's ARN in the request context; the functions trust that context alone, never
 * a header, so nothing a client sends can name another principal.
 */
import { UnauthorizedError } from '../errors';

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
