/**
 * The workers' facts from Databricks system tables, through the SQL Statement Execution API on the
 * contract server's warehouse: fixed statements with typed parameters, bounded rows, bytes and
 * time (a statement still running at the deadline is cancelled), values typed by the manifest, a
 * failing domain leaving its worker with no data while the run goes on, recorded on its span.
 */
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assemblePredict } from '../../functions/predict/assemble';
import { ROUTE } from '../../functions/predict/core';
import { DOMAINS } from '../../lib/agent/domains';
import { parsePredictEnv } from '../../lib/config/predict-env';
import { patCredentials } from '../../lib/databricks/credentials';
import { createDatabricksRegistryClient } from '../../lib/databricks/registry';
import { StatementFailedError } from '../../lib/databricks/sql-statements';
import { createSystemTableProvider, SYSTEM_TABLE_STATEMENTS } from '../../lib/databricks/system-tables';
import { DeadlineExceededError, NotFoundError } from '../../lib/errors';
import { predictSettings } from '../../lib/predict/settings';
import { registerPromptFile } from '../../lib/register/register-prompt-file';
import { statementRunnerFor } from '../../lib/runtime/data-provider';
import { createRuntime } from '../../lib/runtime/invocation';
import { createTracer, type Tracer } from '../../lib/tracing/recorder';
import { agentPromptFiles } from '../support/agent-prompts';
import {
  type DatabricksContract,
  DEFAULT_WAREHOUSE,
  startDatabricksContract,
} from '../support/databricks-contract/server';
import { httpApiEvent } from '../support/http-api-event';
import { makeSecret } from '../support/secrets';
import { awsEnvFor } from '../support/servers';

const motoUri = inject('motoUri');
const PAT = `dapi-${randomUUID().replaceAll('-', '')}`;
const ENDPOINT = 'databricks-claude-sonnet-4';

let contract: DatabricksContract;
const runner = () => statementRunnerFor(patCredentials(contract.url, PAT));
const provider = (options: { maxRows?: number; timeoutMs?: number } = {}) =>
  createSystemTableProvider(async () => runner(), { warehouseId: DEFAULT_WAREHOUSE, ...options });
const input = { query: 'q', data: {}, history: [] } as never;

beforeAll(async () => {
  contract = await startDatabricksContract({ pats: [PAT], servingEndpoints: [ENDPOINT] });
});
afterAll(() => contract?.close());

describe('the system-table statements', () => {
  it('sends each domain fixed SQL with typed parameters, INLINE JSON, and the row and byte bounds', async () => {
    for (const domain of DOMAINS) {
      contract.sql.runningPolls = 0;
      const facts = await provider()(domain, input);
      expect(facts).toMatchObject({
        source: 'databricks system tables',
        tables: SYSTEM_TABLE_STATEMENTS[domain].tables,
      });
      const sent = contract.sql.statements.at(-1);
      expect(sent?.statement).toBe(SYSTEM_TABLE_STATEMENTS[domain].sql);
      expect(sent?.parameters).toEqual([
        { name: 'since_hours', value: expect.stringMatching(/^[0-9]+$/), type: 'INT' },
        { name: 'row_limit', value: '10', type: 'INT' },
      ]);
    }
    const post = contract.log.filter((r) => r.path === '/api/2.0/sql/statements').at(-1);
    expect(post?.body).toMatchObject({
      warehouse_id: DEFAULT_WAREHOUSE,
      wait_timeout: '5s',
      on_wait_timeout: 'CONTINUE',
      disposition: 'INLINE',
      format: 'JSON_ARRAY',
      row_limit: 10,
      byte_limit: 65_536,
    });
  });

  it('types the values by the manifest: DECIMAL and LONG stay strings, INT is a number, NULL null', async () => {
    const cost = (await provider()('cost', input)) as { rows: Record<string, unknown>[] };
    expect(cost.rows[0]).toMatchObject({
      billing_origin_product: 'JOBS',
      est_list_cost_usd: '284.375000000000000000',
    });
    expect(cost.rows[2]?.est_list_cost_usd).toBeNull();
    const security = (await provider()('security', input)) as { rows: Record<string, unknown>[] };
    expect(security.rows[0]).toMatchObject({ status_code: 401, events: '37' });
  });

  it('polls a statement that keeps running, and cancels one that outlives its time', async () => {
    contract.sql.runningPolls = 3;
    const gets = () =>
      contract.log.filter((r) => r.method === 'GET' && r.path.startsWith('/api/2.0/sql/statements/')).length;
    const before = gets();
    await expect(provider()('reliability', input)).resolves.toMatchObject({
      rows: expect.arrayContaining([expect.objectContaining({ job_name: 'etl_daily' })]),
    });
    expect(gets() - before).toBe(3);

    contract.sql.runningPolls = Number.POSITIVE_INFINITY;
    const started = Date.now();
    const error = await provider({ timeoutMs: 1_200 })('performance', input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(contract.sql.cancelled.has(contract.sql.statements.at(-1)?.id as string)).toBe(true);
    contract.sql.runningPolls = 0;
  });

  it('never asks the warehouse to hold the request longer than our attempt waits: one statement, never two', async () => {
    // A starting warehouse holds the request as long as it may; with a 1 s attempt we must not ask it to wait.
    contract.sql.holdMs = 1_500;
    contract.sql.runningPolls = 1;
    const before = contract.sql.statements.length;
    const quick = createSystemTableProvider(
      async () => statementRunnerFor(patCredentials(contract.url, PAT), { timeoutMs: 1_000 }),
      { warehouseId: DEFAULT_WAREHOUSE },
    );
    await expect(quick('quality', input)).resolves.toMatchObject({
      rows: [expect.objectContaining({ lineage_events: '48' })],
    });
    expect(contract.sql.statements.length - before).toBe(1);
    const post = contract.log.filter((r) => r.path === '/api/2.0/sql/statements').at(-1);
    expect(post?.body).toMatchObject({ wait_timeout: '0s' });
    contract.sql.holdMs = 0;
    contract.sql.runningPolls = 0;
  });

  it('bounds the rows, and says a statement the warehouse refused failed, with its code', async () => {
    const one = (await provider({ maxRows: 1 })('cost', input)) as { rows: unknown[]; truncated: boolean };
    expect(one.rows).toHaveLength(1);
    expect(one.truncated).toBe(true);

    contract.sql.failing.add('system.access.audit');
    const refused = await provider()('security', input).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StatementFailedError);
    expect(String(refused)).toMatch(/FAILED \(BAD_REQUEST\): \[INSUFFICIENT_PERMISSIONS\]/);
    contract.sql.failing.clear();

    const nowhere = createSystemTableProvider(async () => runner(), { warehouseId: 'nope-0000' });
    await expect(nowhere('cost', input)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('predict with PREDICT_DATA_SOURCE=system-tables', () => {
  it('gives each worker its system-table facts; a domain that fails gets no data, on its span, and the run answers', async () => {
    Object.assign(process.env, awsEnvFor(motoUri));
    const secretsManager = new SecretsManagerClient({});
    const schema = `facts_${randomUUID().slice(0, 8)}`;
    const registry = createDatabricksRegistryClient({ credentials: patCredentials(contract.url, PAT) });
    for (const file of await agentPromptFiles()) {
      await registerPromptFile(registry, file, { naming: { catalog: 'main', schema } });
    }
    const secretId = await makeSecret(secretsManager, {
      registry: { type: 'databricks', host: contract.url, token: PAT },
      model: { servingEndpoint: ENDPOINT },
    });
    const env = parsePredictEnv({
      PROMPTOPS_SECRET_ID: secretId,
      PROMPT_CATALOG: 'main',
      PROMPT_SCHEMA: schema,
      MLFLOW_EXPERIMENT_ID: '1001',
      PREDICT_DATA_SOURCE: 'system-tables',
      DATABRICKS_WAREHOUSE_ID: DEFAULT_WAREHOUSE,
    });
    const lines: Record<string, unknown>[] = [];
    const runtime = createRuntime(env, {
      functionName: 'predict',
      secretsManager,
      write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    const settings = predictSettings(env);
    const spans: ReadableSpan[] = [];
    const tracer = createTracer({ content: settings.content });
    const recording: Tracer = {
      startTrace(start) {
        const trace = tracer.startTrace(start);
        return {
          ...trace,
          finish(outputs, error) {
            const ended = trace.finish(outputs, error);
            spans.push(...ended);
            return ended;
          },
        };
      },
    };
    const handler = assemblePredict(env, runtime, { snapshot: () => undefined, tracer: recording });
    contract.sql.failing.add('system.access.audit');
    const served = contract.serving.requests.length;
    const response = await handler(
      httpApiEvent({
        routeKey: ROUTE,
        rawPath: '/predict',
        principal: 'arn:aws:iam::123456789012:user/ana',
        body: {
          messages: [{ role: 'user', content: 'Which jobs failed, and any login or permission problems?' }],
        },
      }) as never,
      { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 29_000 } as never,
    );
    contract.sql.failing.clear();
    expect(response.statusCode).toBe(200);
    const workerCalls = contract.serving.requests.slice(served).map((r) => JSON.stringify(r.body.messages));
    const reliability = workerCalls.find(
      (m) => m.includes('reliability specialist') || m.includes('etl_daily'),
    );
    expect(reliability).toContain('etl_daily');
    expect(workerCalls.some((m) => m.includes('No security data was provided'))).toBe(true);
    const dataSpans = spans.filter((s) => s.name.startsWith('data.'));
    expect(dataSpans.map((s) => [s.name, s.status.code]).sort()).toEqual([
      ['data.reliability', 1],
      ['data.security', 2],
    ]);
    // Said in the log, with the statement's code, and counted.
    const warning = lines.find((l) => l.message === 'domain data unavailable; its worker answered without');
    expect(warning).toMatchObject({ level: 'WARN', domain: 'security' });
    expect(JSON.stringify(warning)).toMatch(/INSUFFICIENT_PERMISSIONS|UNAVAILABLE/);
    expect(lines.find((l) => 'DataUnavailable' in l)).toMatchObject({ DataUnavailable: 1 });
  });
});
