/**
 * Sends a finished trace to MLflow before the invocation answers: its spans over OTLP (the server
 * creates the trace from them), or on Databricks its info and then its spans as MLflow's SDK
 * sends them there (databricks-trace.ts), then the links to the prompt versions it used, which are what
 * `search_traces("prompt = 'name/version'")` and a prompt's Traces tab read. MLflow's Python SDK
 * sends the links from a background thread after the response, which a short-lived process (a
 * script, a frozen Lambda) loses; here both are awaited, within a budget, and a failure is
 * reported, never thrown: the caller's answer does not depend on its trace.
 */
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { DeadlineExceededError, InternalError } from '../errors';
import type { RegistryClient, VersionRef } from '../registry';
import { deadlineIn, settleWithin, withDeadline } from '../runtime/deadline';
import { traceDataJson, traceInfoBody } from './databricks-trace';

export interface TraceExport {
  readonly traceId: string;
  readonly experimentId: string;
  readonly spans: readonly ReadableSpan[];
  /** The prompt versions the trace used; linked after the spans are stored. */
  readonly prompts: readonly VersionRef[];
}

export interface ExportOutcome {
  /** The spans were stored (the trace exists). */
  readonly exported: boolean;
  /** The prompt versions were linked (true when there were none to link). */
  readonly linked: boolean;
  /** What failed, when something did. */
  readonly error?: unknown;
}

export async function exportTrace(
  registry: Pick<
    RegistryClient,
    'traceStore' | 'logSpans' | 'startTraceV3' | 'uploadTraceData' | 'linkPromptsToTrace'
  >,
  job: TraceExport,
  budgetMs: number,
): Promise<ExportOutcome> {
  let exported = false;
  let linked = job.prompts.length === 0;
  const work = withDeadline(deadlineIn(budgetMs), async () => {
    if (registry.traceStore === 'artifacts') {
      await registry.startTraceV3(traceInfoBody(job.traceId, job.experimentId, job.spans));
      await registry.uploadTraceData(job.traceId, traceDataJson(job.traceId, job.spans));
    } else {
      const body = ProtobufTraceSerializer.serializeRequest([...job.spans]);
      if (body === undefined) throw new InternalError('The spans could not be serialised to OTLP.');
      await registry.logSpans(job.experimentId, body);
    }
    exported = true;
    // The link needs the trace to exist, so it waits for the spans' answer.
    if (!linked) linked = (await registry.linkPromptsToTrace(job.traceId, job.prompts)).linked;
  });
  try {
    await settleWithin(
      budgetMs,
      work,
      () => new DeadlineExceededError(`The trace was not exported within ${budgetMs} ms.`),
    );
    return { exported, linked };
  } catch (error) {
    return { exported, linked, error };
  }
}
