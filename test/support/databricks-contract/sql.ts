/**
 * The contract server's SQL Statement Execution API (`/api/2.0/sql/statements`), as the
 * Databricks SDK's StatementExecution dataclasses and the API reference define it: the request's
 * fields (unknown ones refused), `wait_timeout` 0 s or 5–50 s, INLINE JSON_ARRAY only, named
 * parameters (`:name`, every marker bound, values as strings), states PENDING → RUNNING →
 * SUCCEEDED | FAILED | CANCELED, polling, chunks and cancel. It runs no SQL: the statement's first
 * `FROM system.<schema>.<table>` picks canned rows for that table (aggregates as a warehouse would
 * answer them), cut to `row_limit`, values as strings. Tests make a table fail (a missing grant),
 * or make statements run for some polls, or never finish.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { answer, type ContractRoute, fail } from './http';

export interface CannedTable {
  readonly columns: readonly { name: string; type_name: string }[];
  readonly rows: readonly (string | null)[][];
}

export interface SqlWarehouse {
  readonly routes: ContractRoute[];
  readonly statements: {
    id: string;
    statement: string;
    parameters: z.infer<typeof parameter>[];
  }[];
  readonly cancelled: Set<string>;
  /** Tables whose statements end FAILED (INSUFFICIENT_PERMISSIONS). */
  readonly failing: Set<string>;
  /** Polls a statement stays RUNNING before it succeeds (Infinity: it never finishes). */
  runningPolls: number;
  /**
   * How long a POST that asks to wait (`wait_timeout` > 0) is held before it answers, at most that
   * wait: a warehouse that is starting holds the request as long as it was told it may.
   */
  holdMs: number;
}

const parameter = z.strictObject({
  name: z.string(),
  value: z.string().optional(),
  type: z.string().optional(),
});
const request = z.strictObject({
  statement: z.string().min(1),
  warehouse_id: z.string(),
  catalog: z.string().optional(),
  schema: z.string().optional(),
  parameters: z.array(parameter).optional(),
  wait_timeout: z
    .string()
    .regex(/^(0|[5-9]|[1-4][0-9]|50)s$/, 'expected 0s or 5s to 50s')
    .optional(),
  on_wait_timeout: z.enum(['CONTINUE', 'CANCEL']).optional(),
  disposition: z.enum(['INLINE', 'EXTERNAL_LINKS']).optional(),
  format: z.enum(['JSON_ARRAY', 'ARROW_STREAM', 'CSV']).optional(),
  row_limit: z.number().int().positive().optional(),
  byte_limit: z.number().int().positive().optional(),
  query_tags: z.array(z.unknown()).optional(),
});

interface Running {
  readonly id: string;
  state: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  polls: number;
  readonly table: string;
  readonly rowLimit: number | undefined;
  error?: { error_code: string; message: string };
}

export const CANNED_TABLES: Readonly<Record<string, CannedTable>> = {
  'system.billing.usage': {
    columns: [
      { name: 'workspace_id', type_name: 'STRING' },
      { name: 'billing_origin_product', type_name: 'STRING' },
      { name: 'sku_name', type_name: 'STRING' },
      { name: 'usage_unit', type_name: 'STRING' },
      { name: 'usage_quantity', type_name: 'DECIMAL' },
      { name: 'est_list_cost_usd', type_name: 'DECIMAL' },
    ],
    rows: [
      [
        '1234567890123456',
        'JOBS',
        'PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST',
        'DBU',
        '812.500000000000000000',
        '284.375000000000000000',
      ],
      [
        '1234567890123456',
        'SQL',
        'PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST',
        'DBU',
        '301.250000000000000000',
        '210.875000000000000000',
      ],
      [
        '1234567890123456',
        'MODEL_SERVING',
        'PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST',
        'DBU',
        '95.000000000000000000',
        null,
      ],
    ],
  },
  'system.access.audit': {
    columns: [
      { name: 'service_name', type_name: 'STRING' },
      { name: 'action_name', type_name: 'STRING' },
      { name: 'status_code', type_name: 'INT' },
      { name: 'events', type_name: 'LONG' },
      { name: 'distinct_users', type_name: 'LONG' },
      { name: 'distinct_ips', type_name: 'LONG' },
      { name: 'last_seen', type_name: 'TIMESTAMP' },
    ],
    rows: [
      ['accounts', 'tokenLogin', '401', '37', '2', '5', '2026-12-05T22:14:03.000Z'],
      ['unityCatalog', 'getTable', '403', '12', '3', '3', '2026-12-05T19:02:41.000Z'],
    ],
  },
  'system.query.history': {
    columns: [
      { name: 'warehouse_id', type_name: 'STRING' },
      { name: 'statement_type', type_name: 'STRING' },
      { name: 'execution_status', type_name: 'STRING' },
      { name: 'statements', type_name: 'LONG' },
      { name: 'p50_ms', type_name: 'LONG' },
      { name: 'p95_ms', type_name: 'LONG' },
      { name: 'max_ms', type_name: 'LONG' },
      { name: 'queued_ms', type_name: 'LONG' },
      { name: 'read_bytes', type_name: 'LONG' },
      { name: 'spilled_bytes', type_name: 'LONG' },
    ],
    rows: [
      [
        '4b9c1e2f0a3d5e67',
        'SELECT',
        'FINISHED',
        '1840',
        '820',
        '14200',
        '96000',
        '310000',
        '982374823412',
        '0',
      ],
    ],
  },
  'system.lakeflow.job_run_timeline': {
    columns: [
      { name: 'workspace_id', type_name: 'STRING' },
      { name: 'job_id', type_name: 'STRING' },
      { name: 'job_name', type_name: 'STRING' },
      { name: 'finished_runs', type_name: 'LONG' },
      { name: 'failed_runs', type_name: 'LONG' },
      { name: 'cancelled_runs', type_name: 'LONG' },
      { name: 'last_termination_code', type_name: 'STRING' },
      { name: 'last_run_end', type_name: 'TIMESTAMP' },
    ],
    rows: [
      ['1234567890123456', '881', 'etl_daily', '2', '2', '0', 'DRIVER_ERROR', '2026-12-06T03:12:00.000Z'],
      ['1234567890123456', '902', 'ml_refresh', '1', '1', '0', 'CLUSTER_ERROR', '2026-12-06T04:40:00.000Z'],
    ],
  },
  'system.access.table_lineage': {
    columns: [
      { name: 'target_table_full_name', type_name: 'STRING' },
      { name: 'lineage_events', type_name: 'LONG' },
      { name: 'distinct_sources', type_name: 'LONG' },
      { name: 'last_write', type_name: 'TIMESTAMP' },
    ],
    rows: [['main.sales.orders_daily', '48', '3', '2026-12-06T05:00:00.000Z']],
  },
};

export function createSqlWarehouse(warehouses: readonly string[]): SqlWarehouse {
  const running = new Map<string, Running>();
  const self: SqlWarehouse = {
    routes: [],
    statements: [],
    cancelled: new Set(),
    failing: new Set(),
    runningPolls: 0,
    holdMs: 0,
  };

  const response = (r: Running) => {
    const base = { statement_id: r.id, status: { state: r.state, ...(r.error ? { error: r.error } : {}) } };
    if (r.state !== 'SUCCEEDED') return base;
    const table = CANNED_TABLES[r.table] as CannedTable;
    const rows = table.rows.slice(0, r.rowLimit ?? table.rows.length);
    return {
      ...base,
      manifest: {
        format: 'JSON_ARRAY',
        schema: {
          column_count: table.columns.length,
          columns: table.columns.map((c, position) => ({ ...c, type_text: c.type_name, position })),
        },
        total_chunk_count: 1,
        total_row_count: rows.length,
        truncated: rows.length < table.rows.length,
        chunks: [{ chunk_index: 0, row_offset: 0, row_count: rows.length }],
      },
      result: { chunk_index: 0, row_offset: 0, row_count: rows.length, data_array: rows },
    };
  };

  const advance = (r: Running) => {
    if (r.state !== 'PENDING' && r.state !== 'RUNNING') return;
    if (r.polls < self.runningPolls) {
      r.state = 'RUNNING';
      r.polls += 1;
      return;
    }
    if (self.failing.has(r.table)) {
      r.state = 'FAILED';
      r.error = {
        error_code: 'BAD_REQUEST',
        message: `[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have permission SELECT on table \`${r.table}\`.`,
      };
      return;
    }
    r.state = 'SUCCEEDED';
  };

  const find = (id: string) => {
    const r = running.get(id);
    if (!r) fail(404, 'RESOURCE_DOES_NOT_EXIST', `Statement ${id} does not exist.`);
    return r;
  };

  self.routes.push(
    {
      method: 'POST',
      path: '/api/2.0/sql/statements',
      handle: async ({ body }) => {
        const parsed = request.safeParse(body);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          fail(400, 'INVALID_PARAMETER_VALUE', `${issue?.path.join('.') || 'request'}: ${issue?.message}`);
        }
        const req = parsed.data;
        if (!warehouses.includes(req.warehouse_id))
          fail(404, 'RESOURCE_DOES_NOT_EXIST', `Warehouse ${req.warehouse_id} does not exist.`);
        if ((req.disposition ?? 'INLINE') !== 'INLINE' || (req.format ?? 'JSON_ARRAY') !== 'JSON_ARRAY')
          fail(400, 'INVALID_PARAMETER_VALUE', 'This warehouse answers INLINE JSON_ARRAY only.');
        const id = `01ef${randomUUID().replaceAll('-', '').slice(0, 28)}`;
        const parameters = req.parameters ?? [];
        self.statements.push({ id, statement: req.statement, parameters });
        const table = /\bFROM\s+(system\.\w+\.\w+)/i.exec(req.statement)?.[1]?.toLowerCase() ?? '';
        const r: Running = { id, state: 'PENDING', polls: 0, table, rowLimit: req.row_limit };
        running.set(id, r);
        const markers = new Set([...req.statement.matchAll(/:([A-Za-z_]\w*)/g)].map((m) => m[1] as string));
        const bound = new Set(parameters.map((p) => p.name));
        const unbound = [...markers].filter((m) => !bound.has(m));
        if (!/^\s*(SELECT|WITH)\b/i.test(req.statement)) {
          r.state = 'FAILED';
          r.error = { error_code: 'BAD_REQUEST', message: 'Only SELECT statements run on this warehouse.' };
        } else if (unbound.length > 0) {
          r.state = 'FAILED';
          r.error = {
            error_code: 'BAD_REQUEST',
            message: `[UNBOUND_SQL_PARAMETER] Found the unbound parameter: ${unbound[0]}.`,
          };
        } else if (!CANNED_TABLES[table]) {
          r.state = 'FAILED';
          r.error = {
            error_code: 'BAD_REQUEST',
            message: `[TABLE_OR_VIEW_NOT_FOUND] The table or view \`${table}\` cannot be found.`,
          };
        } else if (req.wait_timeout !== '0s') {
          const waitMs = Number.parseInt(req.wait_timeout ?? '10s', 10) * 1000;
          if (self.holdMs > 0) await new Promise((done) => setTimeout(done, Math.min(self.holdMs, waitMs)));
          advance(r);
        }
        return response(r);
      },
    },
    {
      method: 'GET',
      path: '/api/2.0/sql/statements/{id}',
      handle: ({ params }) => {
        const r = find(params.id);
        advance(r);
        return response(r);
      },
    },
    {
      method: 'POST',
      path: '/api/2.0/sql/statements/{id}/cancel',
      handle: ({ params }) => {
        const r = find(params.id);
        self.cancelled.add(r.id);
        if (r.state === 'PENDING' || r.state === 'RUNNING') r.state = 'CANCELED';
        return answer(200, {});
      },
    },
    {
      method: 'GET',
      path: '/api/2.0/sql/statements/{id}/result/chunks/{index}',
      handle: ({ params }) => {
        const r = find(params.id);
        if (r.state !== 'SUCCEEDED' || params.index !== '0')
          fail(404, 'RESOURCE_DOES_NOT_EXIST', 'No such chunk.');
        return (response(r) as { result: unknown }).result;
      },
    },
  );
  return self;
}
