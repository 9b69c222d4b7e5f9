import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  AlreadyExistsError,
  ConflictError,
  codeForStatus,
  ERRORS,
  type ErrorCode,
  MoveInProgressError,
  RateLimitedError,
  zodIssues,
} from '../../lib/errors';
import { errorFromAnswer } from '../../lib/http/signed-client';
import { errorFromResponse } from '../../lib/registry/failures';

const problem = (code: string, detail: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'urn:x', title: 't', status: 0, code, detail, ...extra });

describe('the error catalog', () => {
  it('decides whether an error is retryable, by its code', () => {
    expect(new RateLimitedError('slow').retryable).toBe(true);
    expect(new MoveInProgressError('busy', { retryAfterMs: 5 }).retryable).toBe(true);
    expect(new ConflictError('taken').retryable).toBe(false);
  });

  it('has at most one code for each bare status', () => {
    const meant = (Object.keys(ERRORS) as ErrorCode[])
      .filter((code) => ERRORS[code].meansStatus)
      .map((code) => ERRORS[code].answer.status);
    expect(new Set(meant).size).toBe(meant.length);
    expect([401, 404, 409, 422, 500, 502, 503, 504].map(codeForStatus)).toEqual([
      'UNAUTHORIZED',
      'NOT_FOUND',
      'CONFLICT',
      'INVALID_INPUT',
      'INTERNAL',
      'INTERNAL',
      'UNAVAILABLE',
      'DEADLINE_EXCEEDED',
    ]);
  });
});

describe('errors from the promote API', () => {
  it('builds the error a problem code names, keeping a wait only where retrying helps', () => {
    const busy = errorFromAnswer(409, problem('MOVE_IN_PROGRESS', 'busy'), undefined);
    expect(busy).toMatchObject({ code: 'MOVE_IN_PROGRESS', message: 'busy', retryAfterMs: 1000 });
    const model = errorFromAnswer(502, problem('MODEL_FAILED', 'no'), 3000);
    expect(model).toMatchObject({ code: 'MODEL_FAILED', retryAfterMs: undefined });
    const taken = errorFromAnswer(409, problem('ALREADY_EXISTS', 'taken'), undefined);
    expect(taken).toBeInstanceOf(AlreadyExistsError);
  });

  it('reads a code it cannot build by the status, keeping the code in the message', () => {
    const error = errorFromAnswer(
      400,
      problem('NEWER_CODE', 'bad', { errors: [{ path: 'to', message: 'x' }] }),
      undefined,
    );
    expect(error).toMatchObject({ code: 'INVALID_INPUT', message: 'NEWER_CODE: bad' });
    expect(error.issues).toEqual([{ path: 'to', message: 'x' }]);
  });

  it('reads API Gateway answers by their status', () => {
    const error = errorFromAnswer(504, '{"message":"Endpoint request timed out"}', undefined);
    expect(error).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      message: 'API Gateway answered HTTP 504: Endpoint request timed out.',
    });
  });
});

describe('errors from the registry', () => {
  it('reads MLflow codes first and statuses as the registry means them', () => {
    const exists = errorFromResponse('createPrompt', 400, '{"error_code":"RESOURCE_ALREADY_EXISTS"}');
    expect(exists).toBeInstanceOf(AlreadyExistsError);
    expect(errorFromResponse('op', 404, '<html>').code).toBe('UNSUPPORTED');
    const gateway = errorFromResponse('op', 504, '<html>', 2000);
    expect(gateway).toMatchObject({ code: 'UNAVAILABLE', retryable: true, retryAfterMs: 2000 });
    expect(errorFromResponse('op', 400, '<html>', 2000).retryAfterMs).toBeUndefined();
  });
});

describe('zodIssues', () => {
  const schema = z.object({ a: z.number(), b: z.object({ c: z.string() }) });
  const refused = schema.safeParse({ a: 'x', b: {} });
  if (refused.success) throw new Error('the schema should refuse');

  it('gives dotted paths, under `at` when given, and one line', () => {
    const { issues, line } = zodIssues(refused.error, { at: 'config', describe: (i) => i.code });
    expect(issues).toEqual([
      { path: 'config.a', message: 'invalid_type' },
      { path: 'config.b.c', message: 'invalid_type' },
    ]);
    expect(line).toBe('config.a: invalid_type; config.b.c: invalid_type');
  });

  it('names paths as asked and keeps only the first few', () => {
    const root = z.string().safeParse(1);
    if (root.success) throw new Error('the schema should refuse');
    expect(zodIssues(root.error, { name: (p) => p || '(root)' }).line).toMatch(/^\(root\): /);
    expect(zodIssues(refused.error, { name: (p) => `--${p}`, count: 1 }).line).toMatch(/^--a: [^;]+$/);
    expect(zodIssues(refused.error, { name: () => '' }).line).not.toMatch(/(^|; )(a|b\.c): /);
  });
});
