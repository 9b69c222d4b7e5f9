/** An HTTP API (payload 2.0) event as API Gateway sends it to a function after IAM authorization. */
import { randomUUID } from 'node:crypto';

export interface HttpApiCall {
  readonly routeKey: string;
  readonly rawPath: string;
  /** The caller's ARN; null: no IAM context at all (what API Gateway never sends, a test may). */
  readonly principal: string | null;
  readonly pathParameters?: Record<string, string> | undefined;
  readonly query?: Record<string, string> | undefined;
  readonly headers?: Record<string, string> | undefined;
  readonly body?: unknown;
  /** The body exactly as sent (not JSON, say); `body` is ignored then. */
  readonly rawBody?: string | undefined;
}

export function httpApiEvent(call: HttpApiCall) {
  return {
    version: '2.0',
    routeKey: call.routeKey,
    rawPath: call.rawPath,
    headers: { 'content-type': 'application/json', ...call.headers },
    pathParameters: call.pathParameters,
    queryStringParameters: call.query,
    body: call.rawBody ?? (call.body === undefined ? undefined : JSON.stringify(call.body)),
    isBase64Encoded: false,
    requestContext: {
      routeKey: call.routeKey,
      requestId: randomUUID(),
      ...(call.principal === null
        ? {}
        : { authorizer: { iam: { userArn: call.principal, accountId: '123456789012', callerId: 'AIDA' } } }),
    },
  };
}
