/**
 * The predict function: `POST /predict` (HTTP API, IAM authorization) answers a ChatAgentRequest
 * with the Health Monitor agent (lib/predict/service). This file reads the body through the
 * ChatAgent schema, gives the prediction the invocation's time less a margin for the answer, and
 * says which metric a failure counts under; the principal check, problem details and failure
 * logging are lib/runtime/http-api-handler's.
 */

import * as z from 'zod';
import { chatAgentResponse, parseAgentRequest } from '../../lib/agent/chat-agent';
import { NotFoundError, PromptOpsError } from '../../lib/errors';
import { jsonBody, parseRequest } from '../../lib/http/request';
import { PREDICT_METRICS } from '../../lib/observability/metric-names';
import type { PredictService } from '../../lib/predict/service';
import { deadlineIn } from '../../lib/runtime/deadline';
import { type ApiRequest, httpApiHandler, jsonAnswer } from '../../lib/runtime/http-api-handler';
import type { Runtime } from '../../lib/runtime/invocation';

export const ROUTE = 'POST /predict';
/** A person's judgement of an answer, on its trace (lib/registry/tracking.ts logFeedback). */
export const FEEDBACK_ROUTE = 'POST /feedback';

const feedbackSchema = z.strictObject({
  traceId: z
    .string()
    .regex(/^tr-[0-9a-f]{32}$/, 'expected the trace id an answer carried (tr- and 32 hex digits)'),
  value: z.union([z.enum(['up', 'down']), z.boolean(), z.number().finite()], {
    error: 'expected up, down, true, false or a number',
  }),
  comment: z.string().max(5_000).optional(),
  name: z
    .string()
    .regex(/^[\w.-]{1,128}$/, 'expected letters, digits, _ . or - (at most 128)')
    .optional(),
});

/** Kept back from the invocation's remaining time for writing the answer out. */
export const RESPONSE_MARGIN_MS = 500;

/** Outside Lambda (tests) there is no remaining time: the function's 29 s then. */
const UNBOUNDED_REMAINING_MS = 29_000;

export interface PredictHandlerDeps {
  readonly runtime: Runtime;
  readonly service: PredictService;
  readonly now?: () => number;
}

export function createPredictHandler({ runtime, service, now = Date.now }: PredictHandlerDeps) {
  async function route(request: ApiRequest) {
    const started = now();
    const { event, context, log, metrics } = request;
    if (event.routeKey === FEEDBACK_ROUTE) return feedback(request);
    if (event.routeKey !== ROUTE) throw new NotFoundError(`No route ${event.routeKey ?? '(none)'}.`);
    const input = parseAgentRequest(jsonBody(event));
    const remaining = context.getRemainingTimeInMillis?.() ?? UNBOUNDED_REMAINING_MS;
    const answer = await service.predict(input, {
      log,
      metrics,
      deadline: deadlineIn(remaining - RESPONSE_MARGIN_MS, { now }),
      onTrace: (id) => {
        request.traceId = id;
      },
    });
    log.info('answered', {
      traceId: answer.traceId,
      domains: answer.domains,
      prompts: answer.prompts.map((p) => `${p.name}/${p.version ?? '-'}:${p.source}`),
      durationMs: now() - started,
    });
    return jsonAnswer(200, chatAgentResponse(answer));
  }

  /** Recorded as the caller's (its IAM principal), on one of this agent's traces only. */
  async function feedback(request: ApiRequest) {
    const body = parseRequest(feedbackSchema, jsonBody(request.event), 'request body');
    const value = body.value === 'up' ? true : body.value === 'down' ? false : body.value;
    const experimentId = await service.experimentId();
    const { assessmentId } = await runtime.registry.withRegistry((registry) =>
      registry.logFeedback(body.traceId, {
        value,
        rationale: body.comment,
        sourceId: request.principal,
        // Only the agent's own traces (its experiment) take feedback through its API.
        experimentId,
        ...(body.name ? { name: body.name } : {}),
      }),
    );
    request.log.info('feedback recorded', { traceId: body.traceId, assessmentId });
    return jsonAnswer(201, { traceId: body.traceId, assessmentId });
  }

  return httpApiHandler(
    runtime,
    {
      route,
      failureMetric: (error, status) => {
        if (status < 500) return PREDICT_METRICS.requestRefused;
        const code = error instanceof PromptOpsError ? error.code : undefined;
        return code === 'DEADLINE_EXCEEDED'
          ? PREDICT_METRICS.deadlineExceeded
          : code === 'MODEL_FAILED'
            ? PREDICT_METRICS.modelFailed
            : PREDICT_METRICS.requestFailed;
      },
    },
    now,
  );
}
