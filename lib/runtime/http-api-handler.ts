/**
 * The one shape of an HTTP API (payload 2.0, IAM authorization) function: the principal checked
 * before anything is read, a logger carrying the route and the principal, the error turned into
 * problem details (lib/http/problem.ts), the failure logged once (with how long the request took)
 * and counted. Each function only routes and says which metric its failures count under. Runs
 * inside the common wrapper.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { PromptOpsError } from '../errors';
import { principalOf } from '../http/principal';
import { problemResponse, statusFor } from '../http/problem';
import type { HttpApiEvent } from '../http/request';
import type { LogFields, Logger } from '../observability/logger';
import type { MetricName } from '../observability/metric-names';
import type { Metrics } from '../observability/metrics';
import { type Handler, type InvocationContext, instrumented } from './handler';
import type { Runtime } from './invocation';

export type ApiAnswer = APIGatewayProxyStructuredResultV2;

export interface ApiRequest {
  readonly event: HttpApiEvent;
  readonly context: InvocationContext;
  /** The caller's IAM ARN, as API Gateway authenticated it. */
  readonly principal: string;
  /** Carries the route and the principal. */
  readonly log: Logger;
  /** This invocation's metrics. */
  readonly metrics: Metrics;
  /** The MLflow trace of the request, once it has one: a failure's problem names it. */
  traceId?: string | undefined;
}

export interface ApiSpec {
  route(request: ApiRequest): Promise<ApiAnswer>;
  /** The metric a failure counts under (`status` as answered), if any. */
  failureMetric(error: unknown, status: number, event: HttpApiEvent): MetricName | undefined;
  /** A failure this function logs its own way (e.g. the audit line of a move without its record). */
  failureLine?(error: unknown): { readonly message: string; readonly fields: LogFields } | undefined;
  /** What a refusal's log line carries beyond status, code and detail. */
  refusalFields?(event: HttpApiEvent): LogFields;
}

export const jsonAnswer = (status: number, body: unknown): ApiAnswer => ({
  statusCode: status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export function httpApiHandler(
  runtime: Runtime,
  spec: ApiSpec,
  now: () => number = Date.now,
): Handler<unknown, ApiAnswer> {
  return instrumented(runtime.instruments, async (event, context, metrics) => {
    const started = now();
    const http = (event ?? {}) as HttpApiEvent;
    const log = runtime.logger.child({ route: http.routeKey });
    let request: ApiRequest | undefined;
    try {
      // Before anything else, on every route: no principal, no answer.
      const principal = principalOf(event);
      request = { event: http, context, principal, log: log.child({ principal }), metrics };
      return await spec.route(request);
    } catch (error) {
      const status = statusFor(error);
      const durationMs = now() - started;
      const own = spec.failureLine?.(error);
      if (own) log.error(own.message, { status, ...own.fields, durationMs });
      else if (status >= 500) {
        log.error('request failed', {
          status,
          traceId: request?.traceId,
          error,
          cause: (error as Error | undefined)?.cause,
          durationMs,
        });
      } else {
        log.warn('request refused', {
          status,
          code: error instanceof PromptOpsError ? error.code : undefined,
          detail: (error as Error).message,
          ...spec.refusalFields?.(http),
          durationMs,
        });
      }
      const metric = spec.failureMetric(error, status, http);
      if (metric) metrics.add(metric, 1);
      return problemResponse(error, context.awsRequestId, request?.traceId);
    }
  });
}
