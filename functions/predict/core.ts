/**
 * The predict function: `POST /predict` (HTTP API, IAM authorization) answers a ChatAgentRequest
 * with the Health Monitor agent (lib/predict/service). This file reads the body through the
 * ChatAgent schema, gives the prediction the invocation's time less a margin for the answer, and
 * says which metric a failure counts under; the principal check, problem details and failure
 * logging are lib/runtime/http-api-handler's.
 */
import { chatAgentResponse, parseAgentRequest } from '../../lib/agent/chat-agent';
import { NotFoundError, PromptOpsError } from '../../lib/errors';
import { jsonBody } from '../../lib/http/request';
import { PREDICT_METRICS } from '../../lib/observability/metric-names';
import type { PredictService } from '../../lib/predict/service';
import { deadlineIn } from '../../lib/runtime/deadline';
import { type ApiRequest, httpApiHandler, jsonAnswer } from '../../lib/runtime/http-api-handler';
import type { Runtime } from '../../lib/runtime/invocation';

export const ROUTE = 'POST /predict';

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
