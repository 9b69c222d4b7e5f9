/**
 * The promote function: one HTTP API (payload 2.0) with four routes over lib/promote/service.
 * This file only routes the request (path, query, body through the schemas of lib/promote/api),
 * answers JSON, and writes the audit line and metrics; the principal check, problem details and
 * failure logging are lib/runtime/http-api-handler's.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type * as z from 'zod';
import type { PromoteEnv } from '../../lib/config/promote-env';
import { AuditIncompleteError, InvalidInputError, NotFoundError } from '../../lib/errors';
import { type ExperimentChange, startBodySchema, stopBodySchema } from '../../lib/experiments/api';
import { showExperiment, startExperiment, stopExperiment } from '../../lib/experiments/manage';
import { type HttpApiEvent, jsonBody } from '../../lib/http/request';
import type { Logger } from '../../lib/observability/logger';
import { PROMOTE_METRICS } from '../../lib/observability/metric-names';
import type { Metrics } from '../../lib/observability/metrics';
import {
  describeQuerySchema,
  listQuerySchema,
  type MoveResponse,
  parseRequest,
  promoteBodySchema,
  rollbackBodySchema,
} from '../../lib/promote/api';
import { createMoveRules } from '../../lib/promote/move-context';
import {
  describePrompt,
  listManagedPrompts,
  type MoveContext,
  promote,
  rollback,
} from '../../lib/promote/service';
import { type ApiRequest, httpApiHandler, jsonAnswer } from '../../lib/runtime/http-api-handler';
import type { Runtime } from '../../lib/runtime/invocation';

/** A move is not re-run after it wrote: its second run would see its own first move. */
const ONCE_WRITTEN = { rerunAfterWrite: false } as const;

export interface PromoteDeps {
  readonly runtime: Runtime;
  readonly env: PromoteEnv;
  readonly dynamodb: Pick<DynamoDBClient, 'send'>;
  readonly now?: () => Date;
}

function pathName(event: HttpApiEvent): string {
  const name = event.pathParameters?.name;
  if (!name) throw new InvalidInputError('The path names no prompt.');
  return name;
}

function audit(log: Logger, metrics: Metrics, moved: MoveResponse, reason: string | undefined): void {
  // The audit line: one per move, with everything the history records, searchable by prompt.
  log.info(
    moved.changed ? 'alias moved' : moved.recordedOnly ? 'alias move recorded' : 'alias already there',
    {
      audit: true,
      ...moved,
      ...(reason ? { reason } : {}),
    },
  );
  metrics.add(moved.changed ? PROMOTE_METRICS.aliasMoved : PROMOTE_METRICS.aliasMoveUnchanged, 1);
  if (moved.changed && moved.action === 'rollback') metrics.add(PROMOTE_METRICS.aliasRolledBack, 1);
}

function auditExperiment(
  log: Logger,
  metrics: Metrics,
  change: ExperimentChange,
  reason: string | undefined,
): void {
  log.info(change.changed ? `experiment ${change.action}` : 'experiment already as asked', {
    audit: true,
    prompt: change.prompt,
    name: change.name,
    action: change.action,
    changed: change.changed,
    experiment: change.experiment.id,
    revision: change.experiment.revision,
    previousRevision: change.previousRevision,
    status: change.experiment.status,
    weights: Object.fromEntries(change.experiment.variants.map((v) => [v.alias, v.weight_bp])),
    by: change.by,
    at: change.at,
    ...(reason ? { reason } : {}),
  });
  if (change.changed) metrics.add(PROMOTE_METRICS.experimentChanged, 1);
}

export function createPromoteHandler({ runtime, env, dynamodb, now = () => new Date() }: PromoteDeps) {
  const rules = createMoveRules(runtime, env, dynamodb, now);

  async function route({ event, principal, log, metrics }: ApiRequest) {
    const moveContext = (registry: MoveContext['registry']): MoveContext =>
      rules.contextFor(registry, { principal, log });
    /** A move: its body read with `schema`, made by `run`, answered and audited. */
    async function moveWith<B extends { reason?: string | undefined }>(
      schema: z.ZodType<B>,
      run: (ctx: MoveContext, name: string, body: B) => Promise<MoveResponse>,
    ) {
      const name = pathName(event);
      const body = parseRequest(schema, jsonBody(event), 'request body');
      const moved = await runtime.registry.withRegistry((r) => run(moveContext(r), name, body), ONCE_WRITTEN);
      audit(log, metrics, moved, body.reason);
      return jsonAnswer(200, moved);
    }
    /** An experiment change: its body read with `schema`, made by `run`, answered and audited. */
    async function experimentWith<B extends { reason?: string | undefined }>(
      schema: z.ZodType<B>,
      run: (ctx: MoveContext, name: string, body: B) => Promise<ExperimentChange>,
    ) {
      const name = pathName(event);
      // A DELETE may come without a body: nothing expected, no reason.
      const raw = event.body === undefined || event.body === '' ? {} : jsonBody(event);
      const body = parseRequest(schema, raw, 'request body');
      const change = await runtime.registry.withRegistry(
        (r) => run(moveContext(r), name, body),
        ONCE_WRITTEN,
      );
      auditExperiment(log, metrics, change, body.reason);
      return jsonAnswer(200, change);
    }
    switch (event.routeKey) {
      case 'POST /prompts/{name}/experiment':
        return experimentWith(startBodySchema, startExperiment);
      case 'DELETE /prompts/{name}/experiment':
        return experimentWith(stopBodySchema, stopExperiment);
      case 'GET /prompts/{name}/experiment': {
        const name = pathName(event);
        return jsonAnswer(200, await runtime.registry.withRegistry((r) => showExperiment(r, runtime, name)));
      }
      case 'POST /prompts/{name}/promote':
        return moveWith(promoteBodySchema, promote);
      case 'POST /prompts/{name}/rollback':
        return moveWith(rollbackBodySchema, rollback);
      case 'GET /prompts/{name}': {
        const name = pathName(event);
        const query = parseRequest(describeQuerySchema, event.queryStringParameters ?? {}, 'query');
        return jsonAnswer(
          200,
          await runtime.registry.withRegistry((r) => describePrompt(r, runtime.naming, name, query)),
        );
      }
      case 'GET /prompts': {
        const query = parseRequest(listQuerySchema, event.queryStringParameters ?? {}, 'query');
        return jsonAnswer(
          200,
          await runtime.registry.withRegistry((r) => listManagedPrompts(r, runtime.naming, query)),
        );
      }
      default:
        throw new NotFoundError(`No route ${event.routeKey ?? '(none)'}.`);
    }
  }

  return httpApiHandler(runtime, {
    route,
    failureMetric: (error, status, event) =>
      error instanceof AuditIncompleteError
        ? PROMOTE_METRICS.auditIncomplete
        : status >= 500
          ? PROMOTE_METRICS.requestFailed
          : event.routeKey?.startsWith('POST ') || event.routeKey?.startsWith('DELETE ')
            ? PROMOTE_METRICS.moveRefused
            : undefined,
    // The one failure that leaves a move without its record: an audit line of its own.
    failureLine: (error) =>
      error instanceof AuditIncompleteError
        ? { message: 'change made without its record', fields: { audit: true, error, cause: error.cause } }
        : undefined,
    refusalFields: (event) => ({ prompt: event.pathParameters?.name }),
  });
}
