import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommonEnv, commonEnvSchema, parseEnv } from '../../lib/config/env';
import { UnauthorizedError } from '../../lib/errors';
import { createLogger, REDACTED } from '../../lib/observability/logger';
import {
  COLD_START_DIMENSIONS,
  PROMOTE_METRICS,
  REGISTER_METRICS,
} from '../../lib/observability/metric-names';
import type { Metrics } from '../../lib/observability/metrics';
import { instrumented } from '../../lib/runtime/handler';
import { createRuntime } from '../../lib/runtime/invocation';

const SECRET_TOKEN = 'tok-OBS-SECRET-51c2';
const TRACE_HEADER = 'Root=1-6758a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1';

function runtimeWith(vars: Record<string, string> = {}) {
  // What Lambda sets in an on-demand environment; Powertools reports no cold start without it.
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
  const lines: Record<string, unknown>[] = [];
  const env: CommonEnv = parseEnv(commonEnvSchema, {
    PROMPTOPS_SECRET_ID: 'promptops/test/registry',
    ...vars,
  });
  const runtime = createRuntime(env, {
    functionName: 'promote',
    secretsManager: { send: async () => ({}) },
    write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { runtime, lines };
}

const context = (awsRequestId: string) => ({
  awsRequestId,
  functionName: 'promptops-dev-promote',
  functionVersion: '7',
  memoryLimitInMB: '512',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:promptops-dev-promote',
});

const emfLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l._aws !== undefined);
const logLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l._aws === undefined);

afterEach(() => {
  delete process.env._X_AMZN_TRACE_ID;
  delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
});

describe('logs through the handler wrapper', () => {
  it('carry the Lambda context, the cold start (first invocation only), the X-Ray trace and our fields', async () => {
    process.env._X_AMZN_TRACE_ID = TRACE_HEADER;
    const { runtime, lines } = runtimeWith();
    const handler = instrumented(runtime.instruments, async (_event: unknown) => {
      runtime.logger.child({ route: 'GET /prompts' }).info('hello', { prompt: 'orchestrator' });
      return 'ok';
    });
    await handler({}, context('req-1'));
    await handler({}, context('req-2'));
    const [first, second] = logLines(lines);
    expect(first).toMatchObject({
      level: 'INFO',
      message: 'hello',
      service: 'promptops',
      cold_start: true,
      function_name: 'promptops-dev-promote',
      function_version: '7',
      function_request_id: 'req-1',
      xray_trace_id: '1-6758a1b2-0123456789abcdef01234567',
      function: 'promote',
      route: 'GET /prompts',
      prompt: 'orchestrator',
    });
    expect(typeof first?.timestamp).toBe('string');
    expect(second).toMatchObject({ cold_start: false, function_request_id: 'req-2' });
  });

  it('redact credential-named keys at any depth and reduce errors to name, code and message', () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 's', write: (l) => lines.push(l) });
    const error = new UnauthorizedError('refused', { cause: { headers: { authorization: SECRET_TOKEN } } });
    logger.error('x', {
      config: { registry: { token: SECRET_TOKEN, apiKey: SECRET_TOKEN, url: 'u' } },
      headers: [{ Authorization: `Bearer ${SECRET_TOKEN}` }],
      error,
    });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? '');
    expect(entry.config.registry).toEqual({ token: REDACTED, apiKey: REDACTED, url: 'u' });
    expect(entry.headers).toEqual([{ Authorization: REDACTED }]);
    expect(entry.error).toEqual({ name: 'UnauthorizedError', code: 'UNAUTHORIZED', message: 'refused' });
    expect(lines[0]).not.toContain(SECRET_TOKEN);
    expect(lines[0]).not.toContain('stack');
  });

  it('follow POWERTOOLS_LOG_LEVEL, and log a sampled invocation at DEBUG', async () => {
    const quiet = runtimeWith({ POWERTOOLS_LOG_LEVEL: 'warn' });
    quiet.runtime.logger.info('not shown');
    quiet.runtime.logger.warn('shown');
    expect(logLines(quiet.lines).map((l) => l.message)).toEqual(['shown']);

    const sampled = runtimeWith({ POWERTOOLS_LOGGER_SAMPLE_RATE: '1' });
    const handler = instrumented(sampled.runtime.instruments, async (_event: unknown) => {
      sampled.runtime.logger.debug('detail');
    });
    await handler({}, context('req-s'));
    expect(logLines(sampled.lines).some((l) => l.message === 'detail' && l.sampling_rate === 1)).toBe(true);
  });
});

describe('metrics through the handler wrapper', () => {
  it('are written once per invocation as EMF, with the namespace, the dimensions and the cold start', async () => {
    const { runtime, lines } = runtimeWith({ POWERTOOLS_METRICS_NAMESPACE: 'PromptOpsTest' });
    const handler = instrumented(runtime.instruments, async (_event: unknown, _context, metrics) => {
      metrics.add(PROMOTE_METRICS.aliasMoved, 1);
      metrics.add(PROMOTE_METRICS.aliasMoved, 2);
      metrics.add(PROMOTE_METRICS.aliasRolledBack, 1);
    });
    await handler({}, context('req-1'));
    await handler({}, context('req-2'));
    const emf = emfLines(lines);
    const coldStarts = emf.filter((l) => 'ColdStart' in l);
    expect(coldStarts).toHaveLength(1);
    expect(coldStarts[0]).toMatchObject({ function_name: 'promptops-dev-promote', service: 'promptops' });
    const coldAws = coldStarts[0]?._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] };
    expect(coldAws.CloudWatchMetrics[0]?.Dimensions[0]?.sort()).toEqual([...COLD_START_DIMENSIONS].sort());
    const invocations = emf.filter((l) => 'AliasMoved' in l);
    expect(invocations).toHaveLength(2);
    for (const line of invocations) {
      // Summed: one value per metric and invocation.
      expect(line).toMatchObject({
        service: 'promptops',
        function: 'promote',
        AliasMoved: 3,
        AliasRolledBack: 1,
      });
      const aws = line._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
      expect(aws.CloudWatchMetrics[0]?.Namespace).toBe('PromptOpsTest');
      expect(aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'function']]);
    }
  });

  it('are written when the handler throws, and nothing carries over to the next invocation', async () => {
    const { runtime, lines } = runtimeWith();
    let fail = true;
    let late: Metrics | undefined;
    const handler = instrumented(runtime.instruments, async (_event: unknown, _context, metrics) => {
      if (fail) {
        late = metrics;
        metrics.add(REGISTER_METRICS.invocationFailed, 1);
        throw new Error('boom');
      }
      // Work the first invocation left running counts after its end: dropped, not carried over.
      late?.add(REGISTER_METRICS.invocationFailed, 1);
      metrics.add(REGISTER_METRICS.versionRegistered, 1);
    });
    await expect(handler({}, context('req-1'))).rejects.toThrow('boom');
    fail = false;
    await handler({}, context('req-2'));
    const emf = emfLines(lines).filter((l) => !('ColdStart' in l));
    expect(emf).toHaveLength(2);
    expect(emf[0]).toMatchObject({ InvocationFailed: 1 });
    expect(emf[1]).toMatchObject({ VersionRegistered: 1 });
    expect(emf[1]).not.toHaveProperty('InvocationFailed');
  });

  it('are added, wherever the code calls metrics.add, by names from the one list (no string at the call)', () => {
    // The port's type refuses other names; this catches a cast or a name built at run time.
    const files = ['lib', 'functions'].flatMap((dir) =>
      readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => join(dir, f)),
    );
    const calls = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/metrics\.add\(\s*([^,]+),/g)].map((m) => ({
        file,
        name: m[1] ?? '',
      })),
    );
    expect(calls.length).toBeGreaterThan(10);
    // What the call may add: a name from the list, the typed map of prompt sources, or the typed
    // variable the HTTP API handler picks; a conditional may choose between names from the list.
    const allowed = /^(\w+_METRICS\.\w+|SOURCE_METRIC\[[\w.]+\]|metric)$/;
    for (const call of calls) {
      const expression = call.name.replace(/\s+/g, ' ').trim();
      const results = expression.includes('?') ? (expression.split('?')[1] ?? '').split(':') : [expression];
      for (const result of results) expect(result.trim(), `${call.file}: ${expression}`).toMatch(allowed);
    }
  });
});
