/**
 * The parts of the MLflow tracking server beside the registry that the agent needs: experiments
 * (traces live in one) and OTLP span ingestion. Same transport, credentials and retries as the
 * registry calls.
 */
import * as z from 'zod';
import { InvalidInputError, NotFoundError, UnavailableError, UnsupportedError } from '../errors';
import { exchange, noAnswerReason } from '../http/undici-parts';
import { currentDeadline } from '../runtime/deadline';
import type { HttpClient } from './http';

export interface Tracking {
  /**
   * Spans, as an OTLP/protobuf `ExportTraceServiceRequest`, into an experiment (`POST /v1/traces`).
   * The server creates the trace from them; re-sending the same spans is harmless.
   */
  logSpans(experimentId: string, otlpProtobuf: Uint8Array): Promise<void>;
  /** The id of the experiment of that name, or undefined when there is none. */
  getExperimentIdByName(name: string): Promise<string | undefined>;
  /** Creates an experiment; ALREADY_EXISTS when the name is taken. */
  createExperiment(name: string): Promise<string>;
  /**
   * StartTraceV3 (`POST /api/3.0/mlflow/traces`): the trace's info, sent once it has ended, as
   * MLflow's SDK does on Databricks. Answers the trace's tags as the server stored them.
   */
  startTraceV3(body: object): Promise<{ readonly tags: Readonly<Record<string, string>> }>;
  /**
   * The trace's spans (`traces.json`) to where the server keeps trace data: a signed URL from
   * `credentials-for-data-upload`, PUT with only the headers the server named (no credential).
   */
  uploadTraceData(traceId: string, json: string): Promise<void>;
  /**
   * A person's judgement of a trace, as an MLflow assessment (what `mlflow.log_feedback` sends:
   * `POST /api/3.0/mlflow/traces/{id}/assessments`). NotFoundError for a trace the server does not
   * have: no orphan is stored. The same judgement by the same source again (a retry) is not
   * stored twice: the one recorded is answered.
   */
  logFeedback(traceId: string, feedback: FeedbackInput): Promise<{ readonly assessmentId: string }>;
  /**
   * One page of an experiment's traces, with their tags and assessments (SearchTracesV3,
   * `POST /api/3.0/mlflow/traces/search`, what `mlflow.search_traces` calls); oldest first.
   */
  searchTraces(query: TraceQuery): Promise<TracePage>;
}

export interface TraceQuery {
  readonly experimentId: string;
  /** MLflow's trace filter, e.g. ``tags.`promptops.arm.orchestrator` = 'candidate'``. */
  readonly filter?: string | undefined;
  /** At most 500 (the server's limit). */
  readonly maxResults?: number | undefined;
  readonly pageToken?: string | undefined;
}

export interface TraceSummary {
  readonly traceId: string;
  /** Epoch milliseconds. */
  readonly requestTime: number;
  /** Milliseconds, when the trace has ended. */
  readonly durationMs: number | undefined;
  /** `OK`, `ERROR` or `IN_PROGRESS`. */
  readonly state: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly assessments: ReadonlyArray<{
    readonly name: string;
    readonly value: unknown;
    readonly valid: boolean;
    /** Epoch milliseconds. */
    readonly createdAt: number;
  }>;
}

export interface TracePage {
  readonly traces: readonly TraceSummary[];
  readonly nextPageToken: string | undefined;
}

export interface FeedbackInput {
  /** The assessment's name (default `user_feedback`). */
  readonly name?: string;
  /** Up or down, or a score. */
  readonly value: boolean | number;
  readonly rationale?: string | undefined;
  /** Who judged (a user id, an IAM principal). */
  readonly sourceId: string;
  /** Only a trace of this experiment is judged: another's is NotFoundError, as an unknown one. */
  readonly experimentId?: string | undefined;
}

const EXPERIMENT_ID = /^[0-9]+$/;

function validateExperimentId(id: string): string {
  if (!EXPERIMENT_ID.test(id)) throw new InvalidInputError(`Invalid experiment id '${id}': expected digits.`);
  return id;
}

const experimentResponse = z.object({
  experiment: z.looseObject({ experiment_id: z.string().regex(EXPERIMENT_ID) }),
});
const createdResponse = z.object({ experiment_id: z.string().regex(EXPERIMENT_ID) });
const startTraceResponse = z.object({
  trace: z.object({
    trace_info: z.looseObject({ tags: z.record(z.string(), z.string()).default({}) }),
  }),
});
const uploadCredentials = z.object({
  credential_info: z.looseObject({
    signed_uri: z.url({ protocol: /^https?$/ }),
    type: z.string().optional(),
    headers: z.array(z.object({ name: z.string(), value: z.string() })).default([]),
  }),
});
/** Signed URLs MLflow's SDK uploads to with one PUT; Azure's take block uploads, not done here. */
const SINGLE_PUT = new Set(['AWS_PRESIGNED_URL', 'GCP_SIGNED_URL']);
const TRACE_ID = /^tr-[0-9a-f]{32}$/;
const ASSESSMENT_NAME = /^[\w.-]{1,128}$/;
const MAX_RATIONALE = 5_000;
const assessmentResponse = z.object({ assessment: z.looseObject({ assessment_id: z.string().min(1) }) });
const traceInfoResponse = z.object({
  trace: z.object({
    trace_info: z.looseObject({
      trace_id: z.string(),
      assessments: z
        .array(
          z.looseObject({
            assessment_id: z.string(),
            assessment_name: z.string(),
            source: z.looseObject({ source_id: z.string().optional() }).optional(),
            feedback: z.looseObject({ value: z.unknown() }).optional(),
            rationale: z.string().optional(),
            valid: z.boolean().optional(),
          }),
        )
        .default([]),
      trace_location: z
        .object({ mlflow_experiment: z.object({ experiment_id: z.string() }).optional() })
        .optional(),
    }),
  }),
});
const UPLOAD_ATTEMPTS = 3;
/** SearchTracesV3's own bound on a page. */
export const MAX_TRACE_PAGE = 500;
/** Protobuf's JSON for a Duration: seconds with an `s` (`0.027s`). */
const duration = z
  .string()
  .regex(/^[0-9]{1,12}(\.[0-9]{1,9})?s$/)
  .transform((text) => Number(text.slice(0, -1)) * 1000);
const timestamp = z.string().transform((text, ctx) => {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) ctx.addIssue({ code: 'custom', message: 'expected a timestamp' });
  return ms;
});
const searchResponse = z.object({
  traces: z
    .array(
      z.looseObject({
        trace_id: z.string(),
        request_time: timestamp,
        execution_duration: duration.optional(),
        state: z.string().default('STATE_UNSPECIFIED'),
        trace_metadata: z.record(z.string(), z.string()).default({}),
        tags: z.record(z.string(), z.string()).default({}),
        assessments: z
          .array(
            z.looseObject({
              assessment_name: z.string(),
              create_time: timestamp.optional(),
              feedback: z.looseObject({ value: z.unknown() }).optional(),
              valid: z.boolean().default(true),
            }),
          )
          .default([]),
      }),
    )
    .default([]),
  next_page_token: z.string().optional(),
});

export function createTracking(http: HttpClient): Tracking {
  return {
    async logSpans(experimentId, otlpProtobuf) {
      await http.call({
        operation: 'logSpans',
        method: 'POST',
        path: '/v1/traces',
        outsideApi: true,
        headers: { 'x-mlflow-experiment-id': validateExperimentId(experimentId) },
        binaryBody: { bytes: otlpProtobuf, contentType: 'application/x-protobuf' },
        schema: z.unknown(),
      });
    },
    async getExperimentIdByName(name) {
      if (name.trim() === '') throw new InvalidInputError('An experiment name is required.');
      try {
        const response = await http.call({
          operation: 'getExperimentByName',
          method: 'GET',
          path: '/2.0/mlflow/experiments/get-by-name',
          query: { experiment_name: name },
          schema: experimentResponse,
        });
        return response.experiment.experiment_id;
      } catch (error) {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      }
    },
    async startTraceV3(body) {
      const response = await http.call({
        operation: 'startTrace',
        method: 'POST',
        path: '/3.0/mlflow/traces',
        body,
        schema: startTraceResponse,
      });
      return { tags: response.trace.trace_info.tags };
    },
    async uploadTraceData(traceId, json) {
      if (!TRACE_ID.test(traceId)) throw new InvalidInputError(`Invalid trace id '${traceId}'.`);
      const operation = 'uploadTraceData';
      const { credential_info: info } = await http.call({
        operation,
        method: 'GET',
        path: `/2.0/mlflow/traces/${traceId}/credentials-for-data-upload`,
        schema: uploadCredentials,
      });
      if (!SINGLE_PUT.has(info.type ?? '')) {
        throw new UnsupportedError(
          `${operation}: the workspace stores trace data behind a '${info.type ?? 'unnamed'}' URL, which takes a block upload this client does not do.`,
          { registry: { operation } },
        );
      }
      const url = new URL(info.signed_uri);
      // The spans may hold content: they go over TLS whenever the workspace itself is reached so.
      if (url.protocol === 'http:' && new URL(http.baseUrl).protocol === 'https:') {
        throw new UnsupportedError(
          `${operation}: the workspace named a trace data store without TLS; nothing was sent.`,
          {
            registry: { operation },
          },
        );
      }
      // As MLflow's SDK uploads it: a few tries on transient failures (it makes 5), all within
      // the caller's deadline: the trace info is written already, the spans should follow it.
      const request = {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'PUT' as const,
        headers: Object.fromEntries(info.headers.map((h) => [h.name, h.value])),
        body: json,
      };
      const deadline = currentDeadline();
      let last: UnavailableError | undefined;
      for (let attempt = 0; attempt < UPLOAD_ATTEMPTS; attempt += 1) {
        const left = deadline ? deadline.remainingMs() : http.timeoutMs;
        if (left <= 0) break;
        if (attempt > 0) await new Promise((done) => setTimeout(done, Math.min(left, 200 * 2 ** attempt)));
        try {
          const answer = await exchange(
            http.dispatcher,
            request,
            Math.min(http.timeoutMs, deadline ? deadline.remainingMs() : http.timeoutMs),
            deadline?.signal,
          );
          if (answer.status >= 200 && answer.status < 300) return;
          last = new UnavailableError(`${operation}: the trace data store answered HTTP ${answer.status}.`, {
            registry: { operation, httpStatus: answer.status },
          });
          if (answer.status < 500 && answer.status !== 429) break;
        } catch (cause) {
          // The signed URL is a credential of its own: it is not in the message.
          last = new UnavailableError(
            `${operation}: the trace data store did not answer (${noAnswerReason(cause)}).`,
            { registry: { operation }, cause },
          );
        }
      }
      throw (
        last ??
        new UnavailableError(`${operation}: no time was left to upload the trace data.`, {
          registry: { operation },
        })
      );
    },
    async logFeedback(traceId, feedback) {
      if (!TRACE_ID.test(traceId))
        throw new InvalidInputError(`Invalid trace id '${traceId}': expected tr- and 32 hex digits.`);
      const name = feedback.name ?? 'user_feedback';
      if (!ASSESSMENT_NAME.test(name)) throw new InvalidInputError(`Invalid feedback name '${name}'.`);
      if (typeof feedback.value === 'number' && !Number.isFinite(feedback.value))
        throw new InvalidInputError('A feedback score must be a finite number.');
      if (feedback.rationale !== undefined && feedback.rationale.length > MAX_RATIONALE)
        throw new InvalidInputError(`A feedback comment is at most ${MAX_RATIONALE} characters.`);
      if (feedback.sourceId.trim() === '') throw new InvalidInputError('Feedback needs who gave it.');
      // The trace must exist (an assessment of nothing is an orphan nobody can find) and, when
      // asked, be one of this agent's: a caller may not judge another experiment's traces.
      const found = await http.call({
        operation: 'logFeedback',
        method: 'GET',
        path: `/3.0/mlflow/traces/${traceId}`,
        schema: traceInfoResponse,
      });
      const experiment = found.trace.trace_info.trace_location?.mlflow_experiment?.experiment_id;
      if (feedback.experimentId !== undefined && experiment !== feedback.experimentId) {
        throw new NotFoundError(`No trace '${traceId}' among this agent's traces.`, {
          registry: { operation: 'logFeedback' },
        });
      }
      // A retry of a judgement already recorded (its answer was lost) finds it: recorded once.
      const same = found.trace.trace_info.assessments.find(
        (a) =>
          a.assessment_name === name &&
          a.valid !== false &&
          a.source?.source_id === feedback.sourceId &&
          a.feedback?.value === feedback.value &&
          (a.rationale ?? undefined) === (feedback.rationale || undefined),
      );
      if (same) return { assessmentId: same.assessment_id };
      const now = new Date().toISOString();
      const response = await http.call({
        operation: 'logFeedback',
        method: 'POST',
        path: `/3.0/mlflow/traces/${traceId}/assessments`,
        body: {
          assessment: {
            assessment_name: name,
            trace_id: traceId,
            source: { source_type: 'HUMAN', source_id: feedback.sourceId },
            create_time: now,
            last_update_time: now,
            feedback: { value: feedback.value },
            ...(feedback.rationale ? { rationale: feedback.rationale } : {}),
            valid: true,
          },
        },
        schema: assessmentResponse,
      });
      return { assessmentId: response.assessment.assessment_id };
    },
    async searchTraces(query) {
      const maxResults = query.maxResults ?? 100;
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_TRACE_PAGE)
        throw new InvalidInputError(`A page of traces holds 1 to ${MAX_TRACE_PAGE}.`);
      const response = await http.call({
        operation: 'searchTraces',
        method: 'POST',
        path: '/3.0/mlflow/traces/search',
        body: {
          locations: [
            {
              type: 'MLFLOW_EXPERIMENT',
              mlflow_experiment: { experiment_id: validateExperimentId(query.experimentId) },
            },
          ],
          ...(query.filter ? { filter: query.filter } : {}),
          max_results: maxResults,
          order_by: ['timestamp_ms ASC'],
          ...(query.pageToken ? { page_token: query.pageToken } : {}),
        },
        schema: searchResponse,
      });
      return {
        traces: response.traces.map((t) => ({
          traceId: t.trace_id,
          requestTime: t.request_time,
          durationMs: t.execution_duration,
          state: t.state,
          tags: t.tags,
          metadata: t.trace_metadata,
          assessments: t.assessments.map((a) => ({
            name: a.assessment_name,
            value: a.feedback?.value,
            valid: a.valid,
            createdAt: a.create_time ?? 0,
          })),
        })),
        nextPageToken: response.next_page_token || undefined,
      };
    },
    async createExperiment(name) {
      if (name.trim() === '') throw new InvalidInputError('An experiment name is required.');
      const response = await http.call({
        operation: 'createExperiment',
        method: 'POST',
        path: '/2.0/mlflow/experiments/create',
        body: { name },
        schema: createdResponse,
      });
      return response.experiment_id;
    },
  };
}
