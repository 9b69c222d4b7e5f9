/**
 * A finished trace as MLflow's Python SDK writes it to a Databricks workspace's experiment
 * (tracking URI `databricks`; mlflow/tracing/export/mlflow_v3.py, MLflow 3.17): no OTLP there, but
 * the trace info (`POST /api/3.0/mlflow/traces`, StartTraceV3, once the trace has ended), then the
 * spans as `traces.json` (`{"spans": [...]}`, MLflow's span dictionaries) PUT to the signed URL
 * `GET /api/2.0/mlflow/traces/{id}/credentials-for-data-upload` hands out. This module builds both
 * bodies from the OpenTelemetry spans the recorder collected.
 */
import { randomBytes } from 'node:crypto';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InternalError } from '../errors';
import { ATTR, TRACE_TAG_PREFIX } from './attributes';

/** MLflow's trace-level metadata keys (mlflow/tracing/constant.py). */
const META = {
  schemaVersion: 'mlflow.trace_schema.version',
  inputs: 'mlflow.traceInputs',
  outputs: 'mlflow.traceOutputs',
  session: 'mlflow.trace.session',
  user: 'mlflow.trace.user',
  tokenUsage: 'mlflow.trace.tokenUsage',
} as const;
/** MLflow cuts the request and response previews to this many characters. */
const PREVIEW_CHARS = 1000;

type HrTime = readonly [number, number];
const nanos = ([seconds, ns]: HrTime): bigint => BigInt(seconds) * 1_000_000_000n + BigInt(ns);
const isoOf = (time: HrTime) => new Date(Number(nanos(time) / 1_000_000n)).toISOString();
const base64OfHex = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

function rootOf(spans: readonly ReadableSpan[]): ReadableSpan | undefined {
  return spans.find((s) => s.parentSpanContext === undefined) ?? spans[0];
}

/** Our attributes hold text; MLflow stores every attribute JSON-encoded, and ours that are JSON already, once. */
const JSON_TEXT_ATTRIBUTES: ReadonlySet<string> = new Set([ATTR.inputs, ATTR.outputs, ATTR.tokenUsage]);

function attributeJson(key: string, value: unknown): string {
  if (JSON_TEXT_ATTRIBUTES.has(key) && typeof value === 'string') return value;
  return JSON.stringify(value);
}

const STATUS = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'] as const;

/** `traces.json`: `{"spans": [...]}` with nanosecond times as exact integers (they exceed 2^53). */
export function traceDataJson(traceId: string, spans: readonly ReadableSpan[]): string {
  // Placeholders no span text can hold (a fresh random tag), replaced by the exact integers.
  const tag = randomBytes(8).toString('hex');
  const times: string[] = [];
  const time = (t: HrTime) => {
    times.push(nanos(t).toString());
    return `__ns_${tag}_${times.length - 1}__`;
  };
  // In the order the spans started, a parent before its children when the clock cannot tell
  // (its resolution is a millisecond): as MLflow lists a trace's spans, the root first.
  const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
  const depth = (span: ReadableSpan): number => {
    const parent = span.parentSpanContext && byId.get(span.parentSpanContext.spanId);
    return parent ? 1 + depth(parent) : 0;
  };
  const ordered = spans
    .map((span) => ({ span, start: nanos(span.startTime), depth: depth(span) }))
    .sort((a, b) => (a.start === b.start ? a.depth - b.depth : a.start < b.start ? -1 : 1))
    .map((entry) => entry.span);
  const dicts = ordered.map((span) => {
    const context = span.spanContext();
    const attributes: Record<string, string> = { 'mlflow.traceRequestId': JSON.stringify(traceId) };
    for (const [key, value] of Object.entries(span.attributes)) attributes[key] = attributeJson(key, value);
    return {
      trace_id: base64OfHex(context.traceId),
      span_id: base64OfHex(context.spanId),
      parent_span_id: span.parentSpanContext ? base64OfHex(span.parentSpanContext.spanId) : null,
      name: span.name,
      start_time_unix_nano: time(span.startTime),
      end_time_unix_nano: time(span.endTime),
      events: span.events.map((event) => ({
        name: event.name,
        time_unix_nano: time(event.time),
        attributes: event.attributes ?? {},
      })),
      status: { code: STATUS[span.status.code] ?? 'STATUS_CODE_UNSET', message: span.status.message ?? '' },
      attributes,
      links: [],
    };
  });
  return JSON.stringify({ spans: dicts }).replace(
    new RegExp(`"__ns_${tag}_(\\d+)__"`, 'g'),
    (_, i: string) => times[Number(i)] as string,
  );
}

/** The JSON text an attribute holds, decoded, or undefined. */
function decoded(value: unknown): unknown {
  if (typeof value !== 'string') return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

const preview = (value: unknown) => {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > PREVIEW_CHARS ? text.slice(0, PREVIEW_CHARS) : text;
};

/** The summed token usage of the model spans, as MLflow's `mlflow.trace.tokenUsage`. */
function tokenUsage(spans: readonly ReadableSpan[]): string | undefined {
  const sum = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
  let any = false;
  for (const span of spans) {
    const usage = decoded(span.attributes[ATTR.tokenUsage]) as Partial<typeof sum> | undefined;
    if (!usage) continue;
    any = true;
    sum.input_tokens += usage.input_tokens ?? 0;
    sum.output_tokens += usage.output_tokens ?? 0;
    sum.total_tokens += usage.total_tokens ?? 0;
  }
  return any ? JSON.stringify(sum) : undefined;
}

/** StartTraceV3's body: the trace info, as MLflow's SDK builds it when the trace ends. */
export function traceInfoBody(traceId: string, experimentId: string, spans: readonly ReadableSpan[]) {
  const root = rootOf(spans);
  if (root === undefined) throw new InternalError('A trace without spans has no trace info.');
  const attrs = root.attributes;
  const tags: Record<string, string> = { 'mlflow.traceName': root.name };
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith(TRACE_TAG_PREFIX) && typeof value === 'string')
      tags[key.slice(TRACE_TAG_PREFIX.length)] = value;
  }
  const inputs = attrs[ATTR.inputs];
  const outputs = attrs[ATTR.outputs];
  const usage = tokenUsage(spans);
  const metadata: Record<string, string> = {
    [META.schemaVersion]: '3',
    ...(typeof inputs === 'string' ? { [META.inputs]: inputs } : {}),
    ...(typeof outputs === 'string' ? { [META.outputs]: outputs } : {}),
    ...(typeof attrs[ATTR.session] === 'string' ? { [META.session]: attrs[ATTR.session] as string } : {}),
    ...(typeof attrs[ATTR.user] === 'string' ? { [META.user]: attrs[ATTR.user] as string } : {}),
    ...(usage ? { [META.tokenUsage]: usage } : {}),
  };
  const durationNs = nanos(root.endTime) - nanos(root.startTime);
  const requestPreview = preview(typeof inputs === 'string' ? inputs : undefined);
  const responsePreview = preview(typeof outputs === 'string' ? outputs : undefined);
  return {
    trace: {
      trace_info: {
        trace_id: traceId,
        trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } },
        request_time: isoOf(root.startTime),
        execution_duration: `${(Number(durationNs) / 1e9).toFixed(3)}s`,
        state: root.status.code === 2 ? 'ERROR' : 'OK',
        trace_metadata: metadata,
        tags,
        ...(requestPreview !== undefined ? { request_preview: requestPreview } : {}),
        ...(responsePreview !== undefined ? { response_preview: responsePreview } : {}),
      },
    },
  };
}
