/**
 * The predict function: `POST /predict` (HTTP API, IAM authorization) answers a ChatAgentRequest
 * with the Health Monitor agent (lib/predict/service). This file reads the request (principal,
 * route, body through the ChatAgent schema), gives the prediction the invocation's time less a
 * margin for the answer, and turns the result or the error into the response; logs and metrics
 * are flushed once at the end.
 */
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod';
import { chatAgentResponse, parseAgentRequest } from '../../lib/agent/chat-agent';
import { commonEnvShape, parseEnv } from '../../lib/config/env';
import { NotFoundError, PromptOpsError } from '../../lib/errors';
import { problemResponse, statusFor } from '../../lib/http/problem';
import { type HttpApiEvent, jsonBody } from '../../lib/http/request';
import { PREDICT_METRICS, type PredictService } from '../../lib/predict/service';
import { predictSettingsRefinement, predictSettingsShape } from '../../lib/predict/settings';
import { principalOf } from '../../lib/promote/authorize';
import { deadlineIn } from '../../lib/runtime/deadline';
import type { Runtime } from '../../lib/runtime/invocation';

export const ROUTE = 'POST /predict';

export const predictEnvSchema = z
  .object({ ...commonEnvShape, ...predictSettingsShape })
  .superRefine(predictSettingsRefinement);
export type PredictFunctionEnv = z.infer<typeof predictEnvSchema>;

export function parsePredictEnv(env: NodeJS.ProcessEnv): PredictFunctionEnv {
  return parseEnv(predictEnvSchema, env);
}

/** Kept back from the invocation's remaining time for writing the answer out. */
export const RESPONSE_MARGIN_MS = 500;

export interface PredictHandlerDeps {
  readonly runtime: Runtime;
  readonly service: PredictService;
  readonly now?: () => number;
}

type PredictContext = Pick<Context, 'awsRequestId'> & Partial<Pick<Context, 'getRemainingTimeInMillis'>>;

export function createPredictHandler({ runtime, service, now = Date.now }: PredictHandlerDeps) {
  return async function handler(
    event: unknown,
    context: PredictContext,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const started = now();
    const requestId = context.awsRequestId;
    const request = (event ?? {}) as HttpApiEvent;
    const log = runtime.logger.child({ requestId, route: request.routeKey });
    const metrics = runtime.metrics();
    let traceId: string | undefined;
    try {
      // Before anything else: no principal, no answer.
      const principal = principalOf(event);
      if (request.routeKey !== ROUTE) throw new NotFoundError(`No route ${request.routeKey ?? '(none)'}.`);
      const input = parseAgentRequest(jsonBody(request));
      // Outside Lambda (tests) there is no remaining time: the function's 29 s then.
      const remaining = context.getRemainingTimeInMillis?.() ?? 29_000;
      const deadline = deadlineIn(remaining - RESPONSE_MARGIN_MS, { now });
      const answer = await service.predict(input, {
        log: log.child({ principal }),
        metrics,
        deadline,
        onTrace: (id) => {
          traceId = id;
        },
      });
      log.info('answered', {
        principal,
        traceId: answer.traceId,
        domains: answer.domains,
        prompts: answer.prompts.map((p) => `${p.name}/${p.version ?? '-'}:${p.source}`),
        durationMs: now() - started,
      });
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(chatAgentResponse(answer)),
      };
    } catch (error) {
      const status = statusFor(error);
      const code = error instanceof PromptOpsError ? error.code : undefined;
      if (status >= 500) {
        log.error('request failed', {
          status,
          traceId,
          error,
          cause: (error as Error | undefined)?.cause,
          durationMs: now() - started,
        });
        metrics.add(
          code === 'DEADLINE_EXCEEDED'
            ? PREDICT_METRICS.deadlineExceeded
            : code === 'MODEL_FAILED'
              ? PREDICT_METRICS.modelFailed
              : PREDICT_METRICS.requestFailed,
          1,
        );
      } else {
        log.warn('request refused', { status, code, detail: (error as Error).message });
        metrics.add(PREDICT_METRICS.requestRefused, 1);
      }
      return problemResponse(error, requestId, traceId);
    } finally {
      metrics.flush();
    }
  };
}
