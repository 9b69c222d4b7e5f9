/**
 * The Health Monitor's workers' facts from Databricks system tables: one fixed, parameterised
 * statement per domain (the window and the row count are typed parameters, never text pasted into
 * SQL), each an aggregate bounded by `LIMIT`, run on a configured SQL warehouse. The columns are
 * those Databricks documents for each table (README, "Databricks", says which are unconfirmed).
 *
 * A domain whose statement fails (no grant on the table, a schema not enabled, the warehouse down,
 * too slow) gives no data: the worker is told so, the run goes on, and the failure is on the
 * domain's span (lib/agent/flow.ts).
 */

import type { Domain } from '../agent/domains';
import type { DataProvider } from '../agent/flow';
import type { SqlParameter, StatementRunner } from './sql-statements';

/** Billing rows arrive up to about 12 hours late: cost looks further back. */
export const DEFAULT_WINDOW_HOURS: Readonly<Record<Domain, number>> = {
  cost: 72,
  security: 24,
  performance: 24,
  reliability: 48,
  quality: 72,
};

interface DomainStatement {
  /** The tables it reads, for the worker and the span. */
  readonly tables: readonly string[];
  readonly sql: string;
}

const SINCE = 'current_timestamp() - make_dt_interval(0, :since_hours)';

export const SYSTEM_TABLE_STATEMENTS: Readonly<Record<Domain, DomainStatement>> = {
  cost: {
    tables: ['system.billing.usage', 'system.billing.list_prices'],
    sql: `SELECT u.workspace_id, u.billing_origin_product, u.sku_name, u.usage_unit,
       SUM(u.usage_quantity) AS usage_quantity,
       SUM(u.usage_quantity * p.pricing.effective_list.default) AS est_list_cost_usd
FROM system.billing.usage u
LEFT JOIN system.billing.list_prices p
  ON u.sku_name = p.sku_name AND u.cloud = p.cloud AND u.usage_unit = p.usage_unit
  AND p.currency_code = 'USD'
  AND u.usage_start_time >= p.price_start_time
  AND (p.price_end_time IS NULL OR u.usage_start_time < p.price_end_time)
WHERE u.usage_date >= to_date(${SINCE}) AND u.usage_start_time >= ${SINCE}
GROUP BY ALL
ORDER BY est_list_cost_usd DESC NULLS LAST, usage_quantity DESC
LIMIT :row_limit`,
  },
  security: {
    tables: ['system.access.audit'],
    sql: `SELECT service_name, action_name, response.status_code AS status_code,
       COUNT(*) AS events,
       COUNT(DISTINCT user_identity.email) AS distinct_users,
       COUNT(DISTINCT source_ip_address) AS distinct_ips,
       MAX(event_time) AS last_seen
FROM system.access.audit
WHERE event_date >= to_date(${SINCE}) AND event_time >= ${SINCE}
  AND response.status_code >= 400
GROUP BY ALL
ORDER BY events DESC
LIMIT :row_limit`,
  },
  performance: {
    tables: ['system.query.history'],
    sql: `SELECT compute.warehouse_id AS warehouse_id, statement_type, execution_status,
       COUNT(*) AS statements,
       percentile_approx(total_duration_ms, 0.5) AS p50_ms,
       percentile_approx(total_duration_ms, 0.95) AS p95_ms,
       MAX(total_duration_ms) AS max_ms,
       SUM(waiting_at_capacity_duration_ms) AS queued_ms,
       SUM(read_bytes) AS read_bytes,
       SUM(spilled_local_bytes) AS spilled_bytes
FROM system.query.history
WHERE start_time >= ${SINCE}
GROUP BY ALL
ORDER BY p95_ms DESC NULLS LAST
LIMIT :row_limit`,
  },
  reliability: {
    tables: ['system.lakeflow.job_run_timeline', 'system.lakeflow.jobs'],
    sql: `WITH runs AS (
  SELECT workspace_id, job_id, run_id,
         MIN(period_start_time) AS run_start, MAX(period_end_time) AS run_end,
         max_by(result_state, CASE WHEN result_state IS NOT NULL THEN period_end_time END) AS result_state,
         max_by(termination_code, CASE WHEN termination_code IS NOT NULL THEN period_end_time END) AS termination_code
  FROM system.lakeflow.job_run_timeline
  WHERE period_start_time >= ${SINCE}
  GROUP BY ALL
),
jobs AS (
  SELECT workspace_id, job_id, name FROM system.lakeflow.jobs
  QUALIFY ROW_NUMBER() OVER (PARTITION BY workspace_id, job_id ORDER BY change_time DESC) = 1
)
SELECT r.workspace_id, r.job_id, j.name AS job_name,
       COUNT(*) AS finished_runs,
       COUNT_IF(r.result_state IN ('FAILED', 'ERROR', 'TIMED_OUT')) AS failed_runs,
       COUNT_IF(r.result_state IN ('CANCELLED', 'CANCELED')) AS cancelled_runs,
       max_by(r.termination_code, r.run_end) AS last_termination_code,
       MAX(r.run_end) AS last_run_end
FROM runs r LEFT JOIN jobs j ON r.workspace_id = j.workspace_id AND r.job_id = j.job_id
WHERE r.result_state IS NOT NULL
GROUP BY ALL
ORDER BY failed_runs DESC, finished_runs DESC
LIMIT :row_limit`,
  },
  quality: {
    tables: ['system.access.table_lineage'],
    sql: `SELECT target_table_full_name,
       COUNT(*) AS lineage_events,
       COUNT(DISTINCT source_table_full_name) AS distinct_sources,
       MAX(event_time) AS last_write
FROM system.access.table_lineage
WHERE event_date >= to_date(${SINCE}) AND event_time >= ${SINCE}
  AND target_table_full_name IS NOT NULL
GROUP BY target_table_full_name
ORDER BY lineage_events DESC
LIMIT :row_limit`,
  },
};

export interface SystemTableOptions {
  readonly warehouseId: string;
  /** Rows per domain (default 10). */
  readonly maxRows?: number;
  /** Bytes of rows per domain (default 64 KiB): what the worker's prompt can carry. */
  readonly maxBytes?: number;
  /** Per domain (default 8 s; the invocation's deadline bounds it further). */
  readonly timeoutMs?: number;
  readonly windowHours?: Partial<Record<Domain, number>>;
}

/** What a worker receives: where the facts came from, the window, and the rows. */
export interface SystemTableFacts {
  readonly source: 'databricks system tables';
  readonly tables: readonly string[];
  readonly window_hours: number;
  readonly rows: readonly Record<string, unknown>[];
  readonly truncated: boolean;
}

export function createSystemTableProvider(
  runner: () => Promise<StatementRunner>,
  options: SystemTableOptions,
): DataProvider {
  const maxRows = options.maxRows ?? 10;
  return async (domain): Promise<SystemTableFacts> => {
    const statement = SYSTEM_TABLE_STATEMENTS[domain];
    const windowHours = options.windowHours?.[domain] ?? DEFAULT_WINDOW_HOURS[domain];
    const parameters: SqlParameter[] = [
      { name: 'since_hours', value: windowHours, type: 'INT' },
      { name: 'row_limit', value: maxRows, type: 'INT' },
    ];
    const result = await (await runner()).run(statement.sql, parameters, {
      warehouseId: options.warehouseId,
      maxRows,
      maxBytes: options.maxBytes ?? 65_536,
      timeoutMs: options.timeoutMs ?? 8_000,
    });
    return {
      source: 'databricks system tables',
      tables: statement.tables,
      window_hours: windowHours,
      rows: result.rows,
      truncated: result.truncated,
    };
  };
}
