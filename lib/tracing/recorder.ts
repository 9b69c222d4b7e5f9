/**
 * Recording a trace with OpenTelemetry's SDK, shaped for MLflow and for Lambda. Spans are recorded
 * by the SDK's tracer and, when they end, collected per trace (not exported one by one): the
 * invocation takes its own trace's spans and exports them once, at the one awaited point before
 * it answers (export.ts). Several invocations in one process keep their traces apart.
 *
 * Parents are passed explicitly (no global context manager): the agent's spans are few and their
 * nesting is known where they are made.
 */
import { context, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type ReadableSpan, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  ATTR,
  type ContentPolicy,
  contentAttribute,
  type SpanType,
  type TokenUsage,
  TRACE_TAG_PREFIX,
  tokenUsageAttribute,
} from './attributes';

/** Traces whose spans were never taken are dropped beyond this many (a bug, not a leak). */
const MAX_OPEN_TRACES = 256;

/** Collects ended spans by trace id until the trace's owner takes them. */
class TraceCollector implements SpanProcessor {
  private readonly traces = new Map<string, ReadableSpan[]>();

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const id = span.spanContext().traceId;
    let spans = this.traces.get(id);
    if (!spans) {
      if (this.traces.size >= MAX_OPEN_TRACES) {
        const oldest = this.traces.keys().next().value;
        if (oldest !== undefined) this.traces.delete(oldest);
      }
      spans = [];
      this.traces.set(id, spans);
    }
    spans.push(span);
  }

  take(traceId: string): ReadableSpan[] {
    const spans = this.traces.get(traceId) ?? [];
    this.traces.delete(traceId);
    return spans;
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {
    this.traces.clear();
  }
}

/** One span of a trace, with MLflow's attributes at hand. */
export interface SpanHandle {
  readonly span: Span;
  setInputs(value: unknown): void;
  setOutputs(value: unknown): void;
  setAttribute(key: string, value: string | number | boolean | readonly string[]): void;
  setTokenUsage(usage: TokenUsage): void;
  /** Marks the span failed (its status, an exception event with the error's code and message). */
  fail(error: unknown): void;
}

export interface TraceStart {
  readonly name: string;
  readonly spanType: SpanType;
  readonly inputs: unknown;
  /** Trace tags (set as `mlflow.traceTag.<key>` on the root span). */
  readonly tags?: Readonly<Record<string, string>>;
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface TraceRecorder {
  /** MLflow's trace id: `tr-` and the 32 hex digits of the OpenTelemetry trace id. */
  readonly traceId: string;
  /** False when the trace records metadata only: no content (questions, data, answers, model words). */
  readonly recordsContent: boolean;
  readonly root: SpanHandle;
  /** Runs `work` in a child span of `parent` (the root by default); a throw marks the span failed. */
  inSpan<T>(
    name: string,
    spanType: SpanType,
    work: (span: SpanHandle) => Promise<T>,
    parent?: SpanHandle,
  ): Promise<T>;
  setTag(key: string, value: string): void;
  /** Ends the root span (OK, or ERROR with `error`) and returns every span of the trace. */
  finish(outputs: unknown, error?: unknown): ReadableSpan[];
}

export interface Tracer {
  startTrace(start: TraceStart): TraceRecorder;
}

function describe(error: unknown): { code: string; message: string } {
  const code = (error as { code?: unknown })?.code;
  return {
    code: typeof code === 'string' ? code : error instanceof Error ? error.name : 'ERROR',
    message: error instanceof Error ? error.message : String(error),
  };
}

export function createTracer(options: {
  readonly content: ContentPolicy;
  readonly serviceName?: string;
}): Tracer {
  const collector = new TraceCollector();
  // An explicit, minimal resource: the SDK's default one (service.name, process details) would
  // become tags on every trace in MLflow.
  const provider = new TracerProvider({
    resource: resourceFromAttributes({}),
    spanProcessors: [collector],
  });
  const otel = provider.getTracer(options.serviceName ?? 'promptops');

  function handle(span: Span): SpanHandle {
    return {
      span,
      setInputs: (value) => span.setAttribute(ATTR.inputs, contentAttribute(value, options.content)),
      setOutputs: (value) => span.setAttribute(ATTR.outputs, contentAttribute(value, options.content)),
      setAttribute: (key, value) => span.setAttribute(key, value as string),
      setTokenUsage: (usage) => span.setAttribute(ATTR.tokenUsage, tokenUsageAttribute(usage)),
      fail(error) {
        const described = describe(error);
        const code = described.code;
        // An error's message may quote content (a model's refusal): metadata-only traces keep the code.
        const message = options.content.mode === 'metadata' ? code : described.message;
        // The code and message of our own errors carry no credential (lib/errors.ts).
        span.setStatus({ code: SpanStatusCode.ERROR, message: `${code}: ${message}` });
        span.addEvent('exception', { 'exception.type': code, 'exception.message': message });
      },
    };
  }

  return {
    startTrace(start) {
      const rootSpan = otel.startSpan(start.name, {
        attributes: {
          [ATTR.spanType]: start.spanType,
          [ATTR.inputs]: contentAttribute(start.inputs, options.content),
          ...start.attributes,
          ...Object.fromEntries(
            Object.entries(start.tags ?? {}).map(([k, v]) => [`${TRACE_TAG_PREFIX}${k}`, v]),
          ),
        },
      });
      const root = handle(rootSpan);
      const traceId = `tr-${rootSpan.spanContext().traceId}`;
      return {
        traceId,
        recordsContent: options.content.mode !== 'metadata',
        root,
        async inSpan(name, spanType, work, parent = root) {
          const span = otel.startSpan(
            name,
            { attributes: { [ATTR.spanType]: spanType } },
            trace.setSpan(context.active(), parent.span),
          );
          const child = handle(span);
          try {
            const result = await work(child);
            span.setStatus({ code: SpanStatusCode.OK });
            return result;
          } catch (error) {
            child.fail(error);
            throw error;
          } finally {
            span.end();
          }
        },
        setTag(key, value) {
          rootSpan.setAttribute(`${TRACE_TAG_PREFIX}${key}`, value);
        },
        finish(outputs, error) {
          root.setOutputs(outputs);
          if (error === undefined) rootSpan.setStatus({ code: SpanStatusCode.OK });
          else root.fail(error);
          rootSpan.end();
          return collector.take(rootSpan.spanContext().traceId);
        },
      };
    },
  };
}
