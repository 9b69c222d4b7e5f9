import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../lib/errors';
import {
  ATTR,
  type ContentPolicy,
  contentAttribute,
  DEFAULT_CONTENT_POLICY,
  linkedPromptsValue,
  tokenUsageAttribute,
} from '../../lib/tracing/attributes';
import { createTracer } from '../../lib/tracing/recorder';

const FULL: ContentPolicy = { mode: 'full', maxChars: 40 };
const METADATA: ContentPolicy = { mode: 'metadata', maxChars: 40 };

describe('contentAttribute', () => {
  it('keeps content within maxChars as JSON', () => {
    expect(contentAttribute({ query: 'why?' }, FULL)).toBe('{"query":"why?"}');
    expect(contentAttribute(undefined, FULL)).toBe('null');
  });

  it('cuts longer content to fit maxChars, marker and quoting included, and marks the full length', () => {
    // Quote-heavy JSON: kept as a string, each quote is escaped, so the cut must be shorter.
    const value = { messages: Array.from({ length: 40 }, (_, i) => ({ role: 'user', content: `"q${i}"` })) };
    const json = JSON.stringify(value);
    const policy: ContentPolicy = { mode: 'full', maxChars: 200 };
    const attribute = contentAttribute(value, policy);
    expect(attribute.length).toBeLessThanOrEqual(200);
    const kept = JSON.parse(attribute) as string;
    expect(kept.endsWith(`… [truncated: ${json.length} characters in all]`)).toBe(true);
    const prefix = kept.slice(0, kept.indexOf('…'));
    expect(prefix.length).toBeGreaterThan(60);
    expect(json.startsWith(prefix)).toBe(true);
  });

  it('keeps the marker alone when maxChars is shorter than it', () => {
    const attribute = contentAttribute({ query: 'q'.repeat(100) }, FULL);
    expect(JSON.parse(attribute)).toBe('… [truncated: 112 characters in all]');
  });

  it('keeps content of exactly maxChars whole', () => {
    const value = 'x'.repeat(38);
    expect(contentAttribute(value, FULL)).toBe(JSON.stringify(value));
  });

  it('records only the size, never the content, in metadata mode', () => {
    const value = { secret: 'customer-data-1234' };
    const attribute = contentAttribute(value, METADATA);
    expect(JSON.parse(attribute)).toEqual({
      omitted: 'content not recorded (metadata only)',
      chars: JSON.stringify(value).length,
    });
    expect(attribute).not.toContain('customer-data-1234');
  });
});

describe('linkedPromptsValue', () => {
  it("writes Python's json.dumps form byte for byte, versions as strings", () => {
    expect(linkedPromptsValue([{ name: 'a', version: 1 }])).toBe('[{"name": "a", "version": "1"}]');
    expect(
      linkedPromptsValue([
        { name: 'main.prompts.orchestrator', version: 12 },
        { name: 'b', version: 3 },
      ]),
    ).toBe('[{"name": "main.prompts.orchestrator", "version": "12"}, {"name": "b", "version": "3"}]');
    expect(linkedPromptsValue([])).toBe('[]');
  });
});

describe('tokenUsageAttribute', () => {
  it("uses MLflow's snake_case keys", () => {
    expect(JSON.parse(tokenUsageAttribute({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }))).toEqual({
      input_tokens: 1,
      output_tokens: 2,
      total_tokens: 3,
    });
  });
});

const byName = (spans: readonly ReadableSpan[], name: string) => {
  const span = spans.find((s) => s.name === name);
  if (!span) throw new Error(`no span '${name}' among ${spans.map((s) => s.name).join(', ')}`);
  return span;
};

describe('createTracer', () => {
  it("names the trace as MLflow does: 'tr-' and the 32 hex digits of the OpenTelemetry trace id", () => {
    const trace = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
      name: 'agent',
      spanType: 'AGENT',
      inputs: {},
    });
    expect(trace.traceId).toMatch(/^tr-[0-9a-f]{32}$/);
    expect(trace.traceId).toBe(`tr-${trace.root.span.spanContext().traceId}`);
    trace.finish({});
  });

  it('sets the span type, inputs, attributes and tags (as mlflow.traceTag.<key>) on the root span', () => {
    const trace = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
      name: 'agent',
      spanType: 'AGENT',
      inputs: { query: 'why?' },
      tags: { environment: 'dev', 'promptops.alias': 'production' },
      attributes: { [ATTR.session]: 'conv-1' },
    });
    trace.setTag('late', 'yes');
    const [root] = trace.finish({ answer: 'because' });
    expect(root?.attributes).toMatchObject({
      [ATTR.spanType]: 'AGENT',
      [ATTR.inputs]: '{"query":"why?"}',
      [ATTR.outputs]: '{"answer":"because"}',
      [ATTR.session]: 'conv-1',
      'mlflow.traceTag.environment': 'dev',
      'mlflow.traceTag.promptops.alias': 'production',
      'mlflow.traceTag.late': 'yes',
    });
    expect(root?.status.code).toBe(SpanStatusCode.OK);
  });

  it('keeps content out of the spans in metadata mode', () => {
    const trace = createTracer({ content: { mode: 'metadata', maxChars: 1_000 } }).startTrace({
      name: 'agent',
      spanType: 'AGENT',
      inputs: { query: 'confidential question' },
    });
    const [root] = trace.finish({ answer: 'confidential answer' });
    expect(JSON.stringify(root?.attributes)).not.toContain('confidential');
  });

  it('returns the root and its children from finish(), children parented to the root or the given span', async () => {
    const trace = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
      name: 'agent',
      spanType: 'AGENT',
      inputs: {},
    });
    await trace.inSpan('outer', 'CHAIN', async (outer) => {
      await trace.inSpan(
        'inner',
        'CHAT_MODEL',
        async (span) => span.setTokenUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }),
        outer,
      );
    });
    const spans = trace.finish('ok');
    expect(spans.map((s) => s.name).sort()).toEqual(['agent', 'inner', 'outer']);
    const root = byName(spans, 'agent');
    const outer = byName(spans, 'outer');
    const inner = byName(spans, 'inner');
    expect(root.parentSpanContext).toBeUndefined();
    expect(outer.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(inner.attributes[ATTR.spanType]).toBe('CHAT_MODEL');
    expect(JSON.parse(String(inner.attributes[ATTR.tokenUsage]))).toEqual({
      input_tokens: 1,
      output_tokens: 2,
      total_tokens: 3,
    });
  });

  it('marks a span whose work throws as failed, with the code and message, and rethrows', async () => {
    const trace = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
      name: 'agent',
      spanType: 'AGENT',
      inputs: {},
    });
    const failure = new ModelError('model m at http://model.test: HTTP 500', { httpStatus: 500 });
    await expect(
      trace.inSpan('call', 'CHAT_MODEL', async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    const spans = trace.finish(undefined, failure);
    for (const span of [byName(spans, 'call'), byName(spans, 'agent')]) {
      expect(span.status).toEqual({
        code: SpanStatusCode.ERROR,
        message: 'MODEL_FAILED: model m at http://model.test: HTTP 500',
      });
      expect(span.events.map((e) => [e.name, e.attributes])).toEqual([
        [
          'exception',
          { 'exception.type': 'MODEL_FAILED', 'exception.message': 'model m at http://model.test: HTTP 500' },
        ],
      ]);
    }
  });

  it('keeps the spans of two concurrent traces apart', async () => {
    const tracer = createTracer({ content: DEFAULT_CONTENT_POLICY });
    const one = tracer.startTrace({ name: 'one', spanType: 'AGENT', inputs: {} });
    const two = tracer.startTrace({ name: 'two', spanType: 'AGENT', inputs: {} });
    expect(one.traceId).not.toBe(two.traceId);
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const work = (trace: typeof one, prefix: string) =>
      Promise.all(
        [1, 2, 3].map((n) =>
          trace.inSpan(`${prefix}.${n}`, 'CHAT_MODEL', async () => {
            await tick();
          }),
        ),
      );
    await Promise.all([work(one, 'one'), work(two, 'two')]);
    const spansOne = one.finish('done');
    const spansTwo = two.finish('done');
    expect(spansOne.map((s) => s.name).sort()).toEqual(['one', 'one.1', 'one.2', 'one.3']);
    expect(spansTwo.map((s) => s.name).sort()).toEqual(['two', 'two.1', 'two.2', 'two.3']);
    expect(new Set(spansOne.map((s) => `tr-${s.spanContext().traceId}`))).toEqual(new Set([one.traceId]));
    expect(new Set(spansTwo.map((s) => `tr-${s.spanContext().traceId}`))).toEqual(new Set([two.traceId]));
  });
});
