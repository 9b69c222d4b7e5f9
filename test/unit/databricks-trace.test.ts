/**
 * A trace as MLflow's SDK writes it to Databricks (traces.json and the trace info): nanosecond
 * times past 2^53 written exactly, a parent before its children when the clock cannot tell them
 * apart, span text that looks like our placeholders left alone.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { traceDataJson, traceInfoBody } from '../../lib/tracing/databricks-trace';
import { createTracer } from '../../lib/tracing/recorder';

async function trace() {
  const recorder = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
    name: '__ns0__',
    spanType: 'AGENT',
    inputs: { q: '__ns1__', r: '__ns__1__' },
  });
  await recorder.inSpan('__ns__0__', 'LLM', async () => {});
  const spans = recorder.finish('done');
  return { traceId: recorder.traceId, spans };
}

describe('traces.json', () => {
  it('writes nanosecond times as exact integers, beyond what a double holds', async () => {
    const { traceId, spans } = await trace();
    const text = traceDataJson(traceId, spans);
    for (const span of spans) {
      const [seconds, nanos] = span.startTime;
      const exact = (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();
      expect(exact.length).toBeGreaterThan(16);
      expect(text).toContain(`"start_time_unix_nano":${exact}`);
    }
  });

  it('lists the root first even when its child started in the same millisecond, and leaves span text alone', async () => {
    const { traceId, spans } = await trace();
    // Both spans in the same instant, the child listed first: as the collector may hand them over.
    const same = spans.map((s) =>
      Object.assign(Object.create(Object.getPrototypeOf(s)), s, { startTime: [1_800_000_000, 5] }),
    );
    const parsed = JSON.parse(traceDataJson(traceId, same.reverse())) as {
      spans: { name: string; parent_span_id: string | null; attributes: Record<string, string> }[];
    };
    expect(parsed.spans.map((s) => s.name)).toEqual(['__ns0__', '__ns__0__']);
    expect(parsed.spans[0]?.parent_span_id).toBeNull();
    expect(parsed.spans[0]?.attributes['mlflow.spanInputs']).toBe('{"q":"__ns1__","r":"__ns__1__"}');
    expect(traceInfoBody(traceId, '1', spans).trace.trace_info.tags['mlflow.traceName']).toBe('__ns0__');
  });
});
