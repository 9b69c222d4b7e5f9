/**
 * Databricks' SQL Statement Execution API (`/api/2.0/sql/statements`) for small, fixed, read-only
 * statements: one POST that waits on the server (`wait_timeout`, `on_wait_timeout: CONTINUE`),
 * then polling `GET /statements/{id}` while it is PENDING or RUNNING, then the result's chunks
 * (INLINE, JSON_ARRAY) until the row bound. Bounded three ways: rows (`row_limit`, and no chunk
 * fetched past it), bytes (`byte_limit`, and the answer's text) and time (the caller's deadline
 * and our own; a statement still running when time is up is cancelled, not left running).
 *
 * Values arrive as strings (JSON_ARRAY); they are typed by the manifest's `type_name`: numbers
 * that fit a double become numbers, LONG and DECIMAL stay strings (they may not fit), BOOLEAN a
 * boolean, ARRAY/MAP/STRUCT parsed JSON, NULL null.
 */
import * as z from 'zod';
import { DeadlineExceededError, InvalidInputError, UnavailableError } from '../errors';
import { retryClock } from '../http/retries';
import type { HttpClient } from '../registry/http';
import { beyondDeadline, currentDeadline, deadlineIn, withDeadline } from '../runtime/deadline';

export type SqlParameterType = 'STRING' | 'INT' | 'BIGINT' | 'DOUBLE' | 'BOOLEAN' | 'DATE' | 'TIMESTAMP';

export interface SqlParameter {
  readonly name: string;
  readonly value: string | number | boolean | null;
  readonly type: SqlParameterType;
}

export interface StatementOptions {
  readonly warehouseId: string;
  readonly maxRows: number;
  readonly maxBytes: number;
  /** The longest the statement may take, polling included. */
  readonly timeoutMs: number;
  /** Between polls, growing to 2 s. */
  readonly pollMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export type SqlValue = string | number | boolean | null | unknown[] | Record<string, unknown>;

export interface StatementResult {
  readonly statementId: string;
  readonly columns: readonly string[];
  readonly rows: readonly Record<string, SqlValue>[];
  /** More rows (or bytes) existed than the bounds let through. */
  readonly truncated: boolean;
}

/** A statement the warehouse ran and refused (FAILED, CANCELED, CLOSED): its error code and message. */
export class StatementFailedError extends UnavailableError {
  constructor(
    readonly state: string,
    readonly errorCode: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

const column = z.looseObject({
  name: z.string(),
  type_name: z.string().optional(),
  position: z.number().optional(),
});
const resultData = z.looseObject({
  chunk_index: z.number().optional(),
  row_count: z.number().optional(),
  data_array: z.array(z.array(z.string().nullable())).optional(),
  next_chunk_index: z.number().optional(),
});
const statementResponse = z.looseObject({
  statement_id: z.string().regex(/^[\w-]{1,128}$/),
  status: z.looseObject({
    state: z.enum(['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'CLOSED']),
    error: z.looseObject({ error_code: z.string().optional(), message: z.string().optional() }).optional(),
  }),
  manifest: z
    .looseObject({
      schema: z.looseObject({ columns: z.array(column).default([]) }).optional(),
      truncated: z.boolean().optional(),
      total_row_count: z.number().optional(),
    })
    .optional(),
  result: resultData.optional(),
});
type Statement = z.infer<typeof statementResponse>;

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** What a cancel may take past the caller's deadline. */
const CANCEL_MS = 1_000;
/** How much longer than the server's wait our request may take (the answer's travel, a slow start). */
const WAIT_MARGIN_MS = 2_500;
/** Chunks followed at most (the statements here are aggregates with a LIMIT: one chunk). */
const MAX_CHUNKS = 16;
const FLOAT_TYPES = new Set(['INT', 'SHORT', 'BYTE', 'FLOAT', 'DOUBLE']);
const JSON_TYPES = new Set(['ARRAY', 'MAP', 'STRUCT']);

function typed(value: string | null, typeName: string | undefined): SqlValue {
  if (value === null) return null;
  if (typeName && FLOAT_TYPES.has(typeName)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : value;
  }
  if (typeName === 'BOOLEAN') return value === 'true';
  if (typeName && JSON_TYPES.has(typeName)) {
    try {
      return JSON.parse(value) as SqlValue;
    } catch {
      return value;
    }
  }
  return value;
}

/** The API's `wait_timeout`: 0 s (return at once) or 5–50 s. */
function waitTimeout(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return seconds < 5 ? '0s' : `${Math.min(50, seconds)}s`;
}

export function createStatementRunner(http: HttpClient) {
  const path = '/2.0/sql/statements';

  const get = (statementId: string) =>
    http.call({
      operation: 'getStatement',
      method: 'GET',
      path: `${path}/${statementId}`,
      schema: statementResponse,
    });

  /** Best effort, and sent even when the caller's time is up (that is when it is needed). */
  async function cancel(statementId: string): Promise<void> {
    await beyondDeadline(CANCEL_MS, () =>
      http.call({
        operation: 'cancelStatement',
        method: 'POST',
        path: `${path}/${statementId}/cancel`,
        body: {},
        schema: z.unknown(),
      }),
    ).catch(() => undefined);
  }

  /** The statement's result, every request of it within `options.timeoutMs` (and the caller's deadline). */
  function run(
    statement: string,
    parameters: readonly SqlParameter[],
    options: StatementOptions,
  ): Promise<StatementResult> {
    return withDeadline(deadlineIn(options.timeoutMs), () => runWithin(statement, parameters, options));
  }

  async function runWithin(
    statement: string,
    parameters: readonly SqlParameter[],
    options: StatementOptions,
  ): Promise<StatementResult> {
    for (const p of parameters) {
      if (!NAME.test(p.name)) throw new InvalidInputError(`Invalid SQL parameter name '${p.name}'.`);
    }
    const { now, sleep } = retryClock(options);
    // A token first (an OAuth cold start takes discovery and a token request): the server's wait
    // below is measured against the time our request itself has.
    await http.authorize(currentDeadline()?.signal);
    // Our own bound, or the invocation's deadline when that comes first.
    const endsAt = Math.min(now() + options.timeoutMs, currentDeadline()?.at ?? Number.POSITIVE_INFINITY);
    const left = () => endsAt - now();

    let current: Statement = await http.call({
      operation: 'executeStatement',
      method: 'POST',
      path,
      body: {
        warehouse_id: options.warehouseId,
        statement,
        parameters: parameters.map((p) => ({
          name: p.name,
          ...(p.value === null ? {} : { value: String(p.value) }),
          type: p.type,
        })),
        // The server holds the request at most this long; our attempt must outlast it, or it
        // would give up on a statement that is running and know nothing of it.
        wait_timeout: waitTimeout(Math.min(Math.min(left(), http.timeoutMs) - WAIT_MARGIN_MS, 10_000)),
        on_wait_timeout: 'CONTINUE',
        disposition: 'INLINE',
        format: 'JSON_ARRAY',
        row_limit: options.maxRows,
        byte_limit: options.maxBytes,
      },
      schema: statementResponse,
      once: true,
    });
    let pause = options.pollMs ?? 250;
    const timeUp = () =>
      new DeadlineExceededError(
        `The SQL statement did not finish in the time it had (at most ${options.timeoutMs} ms); it was cancelled.`,
      );
    const unfinished = () => current.status.state === 'PENDING' || current.status.state === 'RUNNING';
    try {
      while (unfinished()) {
        if (left() <= 0) throw timeUp();
        await sleep(Math.min(pause, left()));
        pause = Math.min(pause * 2, 2_000);
        if (left() <= 0) throw timeUp();
        current = await get(current.statement_id);
      }
    } catch (error) {
      // Stopping the polls does not stop the statement: it is cancelled, so it costs nothing more.
      await cancel(current.statement_id);
      throw error;
    }
    if (current.status.state !== 'SUCCEEDED') {
      const error = current.status.error;
      throw new StatementFailedError(
        current.status.state,
        error?.error_code,
        `The SQL statement ended ${current.status.state}${error?.error_code ? ` (${error.error_code})` : ''}${error?.message ? `: ${error.message.slice(0, 300)}` : ''}.`,
      );
    }
    return collect(current, options);
  }

  async function collect(statement: Statement, options: StatementOptions): Promise<StatementResult> {
    const columns = [...(statement.manifest?.schema?.columns ?? [])].sort(
      (a, b) => (a.position ?? 0) - (b.position ?? 0),
    );
    const rows: Record<string, SqlValue>[] = [];
    let bytes = 0;
    let truncated = statement.manifest?.truncated === true;
    let chunk = statement.result;
    let chunks = 0;
    while (chunk) {
      chunks += 1;
      for (const raw of chunk.data_array ?? []) {
        bytes += Buffer.byteLength(JSON.stringify(raw));
        if (rows.length >= options.maxRows || bytes > options.maxBytes) {
          truncated = true;
          break;
        }
        rows.push(Object.fromEntries(columns.map((c, i) => [c.name, typed(raw[i] ?? null, c.type_name)])));
      }
      if (truncated || chunk.next_chunk_index === undefined) break;
      if (chunks >= MAX_CHUNKS) {
        truncated = true;
        break;
      }
      chunk = await http.call({
        operation: 'getStatementChunk',
        method: 'GET',
        path: `${path}/${statement.statement_id}/result/chunks/${chunk.next_chunk_index}`,
        schema: resultData,
      });
    }
    return { statementId: statement.statement_id, columns: columns.map((c) => c.name), rows, truncated };
  }

  return { run };
}

export type StatementRunner = ReturnType<typeof createStatementRunner>;
