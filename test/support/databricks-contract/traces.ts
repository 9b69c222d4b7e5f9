/**
 * The contract server's experiments and traces, as MLflow's Python SDK uses them with tracking URI
 * `databricks` (measured: research of mlflow/tracing/export/mlflow_v3.py and a logged run of the
 * SDK): experiments by name and id; StartTraceV3 answering the trace info with
 * `mlflow.artifactLocation`; `credentials-for-data-upload` handing out a signed URL (AWS style),
 * and the PUT of `traces.json` to it; the reverse (`credentials-for-data-download`) for readers.
 *
 * Unconfirmed, chosen here: experiment names must be absolute workspace paths (`/Shared/...`);
 * the artifact location's form; the signed URL is on this server; `GET /api/3.0/mlflow/traces/{id}`.
 */
import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { answer, type ContractRoute, fail } from './http';

export interface StoredTrace {
  readonly info: Record<string, unknown> & { tags: Record<string, string> };
  /** `traces.json` as uploaded, parsed. */
  data?: { spans: Record<string, unknown>[] };
  /** The headers the upload came with (lower-cased names). */
  uploadHeaders?: Record<string, string | string[] | undefined>;
}

export interface TraceStore {
  readonly routes: ContractRoute[];
  readonly traces: Map<string, StoredTrace>;
  readonly experiments: Map<string, string>;
}

const traceInfo = z.strictObject({
  trace_id: z.string().regex(/^tr-[0-9a-f]{32}$/),
  client_request_id: z.string().optional(),
  trace_location: z.strictObject({
    type: z.literal('MLFLOW_EXPERIMENT'),
    mlflow_experiment: z.strictObject({ experiment_id: z.string() }),
  }),
  request_preview: z.string().optional(),
  response_preview: z.string().optional(),
  request_time: z.iso.datetime(),
  execution_duration: z.string().regex(/^[0-9]+(\.[0-9]+)?s$/),
  state: z.enum(['OK', 'ERROR', 'IN_PROGRESS', 'STATE_UNSPECIFIED']),
  trace_metadata: z.record(z.string(), z.string()).optional(),
  assessments: z.array(z.unknown()).optional(),
  tags: z.record(z.string(), z.string()).optional(),
});
const startTrace = z.strictObject({ trace: z.strictObject({ trace_info: traceInfo }) });

export function createTraceStore(server: { readonly url: string }): TraceStore {
  const traces = new Map<string, StoredTrace>();
  const experiments = new Map<string, string>([['/Shared/promptops', '1001']]);
  const signatures = new Map<string, string>();
  let nextExperiment = 2000;

  const experimentJson = (name: string, id: string) => ({
    experiment_id: id,
    name,
    artifact_location: `dbfs:/databricks/mlflow-tracking/${id}`,
    lifecycle_stage: 'active',
    tags: [],
  });
  const byId = (id: string) => [...experiments].find(([, v]) => v === id);
  const traceOf = (id: string) => {
    const trace = traces.get(id);
    if (!trace) fail(404, 'RESOURCE_DOES_NOT_EXIST', `Trace '${id}' does not exist.`);
    return trace;
  };
  const signedUri = (id: string, direction: 'upload' | 'download') => {
    const signature = randomBytes(12).toString('hex');
    signatures.set(`${direction}/${id}`, signature);
    return `${server.url}/signed-${direction}/${id}/traces.json?X-Amz-Signature=${signature}`;
  };

  const routes: ContractRoute[] = [
    {
      method: 'GET',
      path: '/api/2.0/mlflow/experiments/get-by-name',
      handle: ({ query }) => {
        const name = query.get('experiment_name') ?? '';
        const id = experiments.get(name);
        if (id === undefined) fail(404, 'RESOURCE_DOES_NOT_EXIST', `Node ${name} does not exist.`);
        return { experiment: experimentJson(name, id) };
      },
    },
    {
      method: 'GET',
      path: '/api/2.0/mlflow/experiments/get',
      handle: ({ query }) => {
        const found = byId(query.get('experiment_id') ?? '');
        if (!found) fail(404, 'RESOURCE_DOES_NOT_EXIST', 'No such experiment.');
        return { experiment: experimentJson(found[0], found[1]) };
      },
    },
    {
      method: 'POST',
      path: '/api/2.0/mlflow/experiments/create',
      handle: ({ body }) => {
        const name = String((body as { name?: unknown }).name ?? '');
        if (!name.startsWith('/'))
          fail(
            400,
            'INVALID_PARAMETER_VALUE',
            `Got an invalid experiment name '${name}': it must be an absolute workspace path.`,
          );
        if (experiments.has(name))
          fail(400, 'RESOURCE_ALREADY_EXISTS', `Node named '${name}' already exists.`);
        const id = String(nextExperiment++);
        experiments.set(name, id);
        return { experiment_id: id };
      },
    },
    {
      method: 'POST',
      path: '/api/3.0/mlflow/traces',
      handle: ({ body }) => {
        const parsed = startTrace.safeParse(body);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          fail(400, 'INVALID_PARAMETER_VALUE', `Invalid trace: ${issue?.path.join('.')}: ${issue?.message}`);
        }
        const info = parsed.data.trace.trace_info;
        const experimentId = info.trace_location.mlflow_experiment.experiment_id;
        if (!byId(experimentId))
          fail(404, 'RESOURCE_DOES_NOT_EXIST', `Experiment ${experimentId} does not exist.`);
        const tags = {
          ...info.tags,
          'mlflow.artifactLocation': `dbfs:/databricks/mlflow-tracking/${experimentId}/${info.trace_id}/artifacts`,
        };
        const stored = { ...info, tags };
        traces.set(info.trace_id, { info: stored });
        return { trace: { trace_info: stored } };
      },
    },
    {
      method: 'GET',
      path: '/api/3.0/mlflow/traces/{id}',
      handle: ({ params }) => ({ trace: { trace_info: traceOf(params.id).info } }),
    },
    {
      method: 'GET',
      path: '/api/2.0/mlflow/traces/{id}/credentials-for-data-upload',
      handle: ({ params }) => {
        traceOf(params.id);
        return {
          credential_info: {
            signed_uri: signedUri(params.id, 'upload'),
            type: 'AWS_PRESIGNED_URL',
            headers: [{ name: 'x-amz-server-side-encryption', value: 'AES256' }],
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/2.0/mlflow/traces/{id}/credentials-for-data-download',
      handle: ({ params }) => {
        traceOf(params.id);
        return {
          credential_info: {
            signed_uri: signedUri(params.id, 'download'),
            type: 'AWS_PRESIGNED_URL',
            headers: [],
          },
        };
      },
    },
    {
      method: 'PUT',
      path: '/signed-upload/{id}/traces.json',
      open: true,
      handle: ({ params, query, headers, raw }) => {
        if (query.get('X-Amz-Signature') !== signatures.get(`upload/${params.id}`))
          return answer(403, '<Error><Code>SignatureDoesNotMatch</Code></Error>', 'application/xml');
        if (headers['x-amz-server-side-encryption'] !== 'AES256')
          return answer(400, '<Error><Code>InvalidArgument</Code></Error>', 'application/xml');
        const trace = traceOf(params.id);
        trace.data = JSON.parse(raw.toString('utf8'));
        trace.uploadHeaders = { ...headers };
        return answer(200, '', 'application/xml');
      },
    },
    {
      method: 'GET',
      path: '/signed-download/{id}/traces.json',
      open: true,
      handle: ({ params, query }) => {
        if (query.get('X-Amz-Signature') !== signatures.get(`download/${params.id}`))
          return answer(403, '<Error><Code>SignatureDoesNotMatch</Code></Error>', 'application/xml');
        const trace = traceOf(params.id);
        if (!trace.data) return answer(404, '<Error><Code>NoSuchKey</Code></Error>', 'application/xml');
        return answer(200, JSON.stringify(trace.data), 'application/octet-stream');
      },
    },
  ];
  return { routes, traces, experiments };
}
