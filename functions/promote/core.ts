/**
 * The promote function: one HTTP API (payload 2.0) with four routes over lib/promote/service.
 * This file only reads the request (route, principal, path, query, body through the schemas of
 * lib/promote/api), answers JSON or problem details, and writes the audit line and metrics.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod';
import { commonEnvShape, parseEnv } from '../../lib/config/env';
import { AuditIncompleteError, InvalidInputError, NotFoundError, PromptOpsError } from '../../lib/errors';
import { problemResponse, statusFor } from '../../lib/http/problem';
import { type HttpApiEvent, jsonBody } from '../../lib/http/request';
import type { Logger } from '../../lib/observability/logger';
import type { Metrics } from '../../lib/observability/metrics';
import { createDynamoAliasLock } from '../../lib/promote/alias-lock';
import {
  checked,
  describeQuerySchema,
  listQuerySchema,
  type MoveResponse,
  parseRequest,
  promoteBodySchema,
  rollbackBodySchema,
} from '../../lib/promote/api';
import { patternProblem, principalOf } from '../../lib/promote/authorize';
import {
  describePrompt,
  listManagedPrompts,
  type MoveContext,
  promote,
  rollback,
} from '../../lib/promote/service';
import { validateAliasName } from '../../lib/prompts/names';
import type { Runtime } from '../../lib/runtime/invocation';

const splitList = (value: string) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');

const csv = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value) => splitList(value ?? fallback));

/** Checks each item with `check`, which throws a message for a bad one. */
function each(check: (item: string) => unknown) {
  const one = checked(check);
  return (items: readonly string[], ctx: z.RefinementCtx) => {
    for (const item of items) one(item, ctx);
  };
}

export const promoteEnvSchema = z.object({
  ...commonEnvShape,
  PROMOTE_LOCK_TABLE: z.string().trim().min(3, 'expected the alias lock table name'),
  /** Aliases only the principals below may move; `none` for none (empty is refused: a typo?). */
  PROTECTED_ALIASES: z
    .string()
    .optional()
    .transform((value) => value ?? 'production')
    .superRefine((value, ctx) => {
      if (value.trim() === '') ctx.addIssue({ code: 'custom', message: "expected aliases, or 'none'" });
    })
    .transform((value) => (value.trim().toLowerCase() === 'none' ? [] : splitList(value)))
    .superRefine(each(validateAliasName)),
  /** ARN patterns (`*`, `?`); empty: nobody may move a protected alias. */
  PROTECTED_ALIAS_PRINCIPALS: csv('').superRefine(
    each((pattern) => {
      const problem = patternProblem(pattern);
      if (problem) throw new Error(problem);
    }),
  ),
  /** How long a move waits for another move of the same alias before answering 409. */
  PROMOTE_LOCK_WAIT_MS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 10_000 : Number(v)))
    .pipe(z.number().int('expected a whole number of milliseconds').min(0).max(15_000)),
});
export type PromoteEnv = z.infer<typeof promoteEnvSchema>;

export function parsePromoteEnv(env: NodeJS.ProcessEnv): PromoteEnv {
  return parseEnv(promoteEnvSchema, env);
}

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

const json = (status: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode: status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

function audit(log: Logger, metrics: Metrics, moved: MoveResponse, reason: string | undefined): void {
  // The audit line: one per move, with everything the history records, searchable by prompt.
  log.info(moved.changed ? 'alias moved' : 'alias already there', {
    audit: true,
    ...moved,
    ...(reason ? { reason } : {}),
  });
  metrics.add(moved.changed ? 'AliasMoved' : 'AliasMoveUnchanged', 1);
  if (moved.changed && moved.action === 'rollback') metrics.add('AliasRolledBack', 1);
}

export function createPromoteHandler({ runtime, env, dynamodb, now = () => new Date() }: PromoteDeps) {
  const lock = createDynamoAliasLock({
    client: dynamodb,
    table: env.PROMOTE_LOCK_TABLE,
    waitMs: env.PROMOTE_LOCK_WAIT_MS,
    onReleaseFailure: (key, error) =>
      runtime.logger.warn('alias lock not released; it expires', { key, error }),
  });
  const policy = {
    protectedAliases: env.PROTECTED_ALIASES,
    allowedPrincipals: env.PROTECTED_ALIAS_PRINCIPALS,
  };

  async function route(
    event: HttpApiEvent,
    request: { principal: string; remainingMs: (() => number) | undefined },
    log: Logger,
    metrics: Metrics,
  ) {
    const moveContext = (registry: MoveContext['registry']): MoveContext => ({
      registry,
      lock,
      naming: runtime.naming,
      policy,
      principal: request.principal,
      now,
      remainingMs: request.remainingMs,
      // The history the move is about to rewrite without its unreadable entries, kept here.
      onDamagedHistory: (previousValue) =>
        log.warn('alias history damaged; unreadable entries dropped', { audit: true, previousValue }),
    });
    /** A move: its body read with `schema`, made by `run`, answered and audited. */
    async function moveWith<B extends { reason?: string | undefined }>(
      schema: z.ZodType<B>,
      run: (ctx: MoveContext, name: string, body: B) => Promise<MoveResponse>,
    ) {
      const name = pathName(event);
      const body = parseRequest(schema, jsonBody(event), 'request body');
      const moved = await runtime.registry.withRegistry((r) => run(moveContext(r), name, body), ONCE_WRITTEN);
      audit(log, metrics, moved, body.reason);
      return json(200, moved);
    }
    switch (event.routeKey) {
      case 'POST /prompts/{name}/promote':
        return moveWith(promoteBodySchema, promote);
      case 'POST /prompts/{name}/rollback':
        return moveWith(rollbackBodySchema, rollback);
      case 'GET /prompts/{name}': {
        const name = pathName(event);
        const query = parseRequest(describeQuerySchema, event.queryStringParameters ?? {}, 'query');
        return json(
          200,
          await runtime.registry.withRegistry((r) => describePrompt(r, runtime.naming, name, query)),
        );
      }
      case 'GET /prompts': {
        const query = parseRequest(listQuerySchema, event.queryStringParameters ?? {}, 'query');
        return json(
          200,
          await runtime.registry.withRegistry((r) => listManagedPrompts(r, runtime.naming, query)),
        );
      }
      default:
        throw new NotFoundError(`No route ${event.routeKey ?? '(none)'}.`);
    }
  }

  return async function handler(
    event: unknown,
    context: Pick<Context, 'awsRequestId'> & Partial<Pick<Context, 'getRemainingTimeInMillis'>>,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const requestId = context.awsRequestId;
    const request = (event ?? {}) as HttpApiEvent;
    const log = runtime.logger.child({ requestId, route: request.routeKey });
    const metrics = runtime.metrics();
    try {
      // Before anything else, on every route: no principal, no answer.
      const principal = principalOf(event);
      const remainingMs = context.getRemainingTimeInMillis?.bind(context);
      return await route(request, { principal, remainingMs }, log.child({ principal }), metrics);
    } catch (error) {
      const status = statusFor(error);
      if (error instanceof AuditIncompleteError) {
        // The one failure that leaves a move without its record: an audit line of its own.
        log.error('alias moved without its record', { audit: true, status, error, cause: error.cause });
        metrics.add('AuditIncomplete', 1);
      } else if (status >= 500) {
        log.error('request failed', { status, error, cause: (error as Error | undefined)?.cause });
        metrics.add('RequestFailed', 1);
      } else {
        log.warn('request refused', {
          status,
          code: error instanceof PromptOpsError ? error.code : undefined,
          detail: (error as Error).message,
          prompt: request.pathParameters?.name,
        });
        if (request.routeKey?.startsWith('POST ')) metrics.add('MoveRefused', 1);
      }
      return problemResponse(error, requestId);
    } finally {
      metrics.flush();
    }
  };
}
