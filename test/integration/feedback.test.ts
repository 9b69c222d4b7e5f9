/**
 * A person's feedback on a trace, written as MLflow's `log_feedback` writes it (an assessment,
 * `POST /api/3.0/mlflow/traces/{id}/assessments`) against the real MLflow server, and read back
 * by MLflow's Python SDK beside one the SDK wrote itself; an unknown trace refused before anything
 * is written.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InvalidInputError, NotFoundError } from '../../lib/errors';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { runCli } from '../support/cli';
import { type Oracle, startOracle } from '../support/oracle';

const uri = inject('mlflowUri');
let registry: RegistryClient;
let oracle: Oracle;

beforeAll(() => {
  registry = createRegistryClient({ trackingUri: uri });
  oracle = startOracle(uri);
});
afterAll(() => oracle?.close());

interface Read {
  name: string;
  value: unknown;
  rationale: string | null;
  source_type: string;
  source_id: string;
}

describe('feedback on a trace', () => {
  it("is read back by MLflow's SDK as the SDK's own feedback is", async () => {
    const traceId = await oracle.call<string>('start_trace', { name: 'feedback' });
    const { assessmentId } = await registry.logFeedback(traceId, {
      value: true,
      rationale: 'spot on',
      sourceId: 'carol',
    });
    expect(assessmentId).toMatch(/^a-/);
    await registry.logFeedback(traceId, { value: 4.5, sourceId: 'dan', name: 'usefulness' });
    await oracle.call('log_feedback', {
      trace_id: traceId,
      value: false,
      rationale: 'wrong',
      source_id: 'sdk-user',
    });
    const read = await oracle.call<Read[]>('feedback_of', { trace_id: traceId });
    const by = (id: string) => read.find((r) => r.source_id === id);
    expect(by('carol')).toEqual({
      name: 'user_feedback',
      value: true,
      rationale: 'spot on',
      source_type: 'HUMAN',
      source_id: 'carol',
    });
    expect(by('dan')).toMatchObject({ name: 'usefulness', value: 4.5, rationale: null });
    // Ours and the SDK's have the same shape.
    expect(Object.keys(by('carol') as Read).sort()).toEqual(Object.keys(by('sdk-user') as Read).sort());
    expect(by('sdk-user')).toMatchObject({ name: 'user_feedback', value: false, source_type: 'HUMAN' });
  });

  it('records a retried judgement once, and a changed one anew', async () => {
    const traceId = await oracle.call<string>('start_trace', { name: 'feedback-retry' });
    const judgement = { value: true, rationale: 'good', sourceId: 'erin' };
    const first = await registry.logFeedback(traceId, judgement);
    // The answer was lost; the caller sends it again.
    expect(await registry.logFeedback(traceId, judgement)).toEqual(first);
    const changed = await registry.logFeedback(traceId, { ...judgement, value: false });
    expect(changed.assessmentId).not.toBe(first.assessmentId);
    const read = await oracle.call<Read[]>('feedback_of', { trace_id: traceId });
    expect(read.filter((r) => r.source_id === 'erin').map((r) => r.value)).toEqual([true, false]);
  });

  it('refuses an unknown trace with NotFoundError, writing nothing', async () => {
    const counting = createRegistryClient({ trackingUri: uri });
    const error = await counting
      .logFeedback(`tr-${'0'.repeat(32)}`, { value: true, sourceId: 'carol' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(counting.requestCount).toBe(1);
  });

  it('refuses bad input before any request', async () => {
    const counting = createRegistryClient({ trackingUri: uri });
    for (const attempt of [
      () => counting.logFeedback('not-a-trace', { value: true, sourceId: 'c' }),
      () => counting.logFeedback(`tr-${'a'.repeat(32)}`, { value: Number.NaN, sourceId: 'c' }),
      () => counting.logFeedback(`tr-${'a'.repeat(32)}`, { value: true, sourceId: ' ' }),
      () =>
        counting.logFeedback(`tr-${'a'.repeat(32)}`, {
          value: true,
          sourceId: 'c',
          rationale: 'x'.repeat(5_001),
        }),
    ]) {
      await expect(attempt()).rejects.toBeInstanceOf(InvalidInputError);
    }
    expect(counting.requestCount).toBe(0);
  });
});

describe('promptops feedback', () => {
  it('records a thumbs up with a comment, and a score, read back by the SDK; refuses what it cannot record', async () => {
    const traceId = await oracle.call<string>('start_trace', { name: 'cli-feedback' });
    const env = { MLFLOW_TRACKING_URI: uri, PROMPTOPS_FEEDBACK_BY: 'erin' };
    const up = await runCli(['feedback', traceId, '--value', 'up', '--comment', 'clear and right'], env);
    expect(up).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout).toMatch(new RegExp(`^feedback a-\\w+ recorded on ${traceId}`));
    expect(
      (await runCli(['feedback', traceId, '--value', '2', '--name', 'stars', '--by', 'frank'], env)).code,
    ).toBe(0);
    const read = await oracle.call<Read[]>('feedback_of', { trace_id: traceId });
    expect(read).toEqual(
      expect.arrayContaining([
        {
          name: 'user_feedback',
          value: true,
          rationale: 'clear and right',
          source_type: 'HUMAN',
          source_id: 'erin',
        },
        expect.objectContaining({ name: 'stars', value: 2, source_id: 'frank' }),
      ]),
    );
    const unknown = await runCli(['feedback', `tr-${'f'.repeat(32)}`, '--value', 'down'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND/);
    const bad = await runCli(['feedback', traceId, '--value', 'meh'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--value expects up, down or a number, got 'meh'/);
  });
});
