/**
 * Traces on Databricks, as MLflow's Python SDK writes them there (tracking URI `databricks`): the
 * trace info by StartTraceV3, then the spans as `traces.json` to the signed URL the workspace hands
 * out, then the prompt links through Unity Catalog's `links-to-traces`. Against the contract
 * server: what this client writes has the shape the SDK writes for its own trace, and the SDK
 * reads our trace back (`mlflow.get_trace`) with its spans, tags and token usage.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patCredentials } from '../../lib/databricks/credentials';
import { createDatabricksRegistryClient } from '../../lib/databricks/registry';
import type { RegistryClient } from '../../lib/registry';
import { DEFAULT_CONTENT_POLICY, linkedPromptsValue } from '../../lib/tracing/attributes';
import { exportTrace } from '../../lib/tracing/export';
import { createTracer } from '../../lib/tracing/recorder';
import { type DatabricksContract, startDatabricksContract } from '../support/databricks-contract/server';
import { type Oracle, startOracle } from '../support/oracle';

const PAT = 'dapi-traces-pat-0123456789';
const EXPERIMENT = '1001';

let contract: DatabricksContract;
let registry: RegistryClient;
let oracle: Oracle;

beforeAll(async () => {
  contract = await startDatabricksContract({ pats: [PAT] });
  registry = createDatabricksRegistryClient({ credentials: patCredentials(contract.url, PAT) });
  oracle = startOracle(undefined, {
    MLFLOW_TRACKING_URI: 'databricks',
    MLFLOW_REGISTRY_URI: 'databricks-uc',
    DATABRICKS_HOST: contract.url,
    DATABRICKS_TOKEN: PAT,
    MLFLOW_EXPERIMENT_ID: EXPERIMENT,
    MLFLOW_ENABLE_ASYNC_TRACE_LOGGING: 'false',
    MLFLOW_DISABLE_TELEMETRY: 'true',
    DO_NOT_TRACK: 'true',
    HOME: mkdtempSync(join(tmpdir(), 'promptops-sdk-home-')),
  });
});
afterAll(async () => {
  await oracle?.close();
  await contract?.close();
});

async function ourTrace(prompt: { name: string; version: number }) {
  const recorder = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
    name: 'health_monitor',
    spanType: 'AGENT',
    inputs: { question: 'Why did cost rise?' },
    attributes: { 'session.id': 'conv-1', 'user.id': 'ana@example.com' },
    tags: { prompts_loaded: 'orchestrator' },
  });
  recorder.setTag('mlflow.linkedPrompts', linkedPromptsValue([prompt]));
  await recorder.inSpan('orchestrator', 'CHAT_MODEL', async (span) => {
    span.setInputs({ messages: [{ role: 'user', content: 'Why?' }] });
    span.setTokenUsage({ inputTokens: 12, outputTokens: 5, totalTokens: 17 });
    span.setOutputs('Because.');
  });
  const spans = recorder.finish({ answer: 'Because.' });
  return { traceId: recorder.traceId, spans };
}

describe('a trace on Databricks', () => {
  it('is written as the SDK writes one: info, traces.json to the signed URL, then links', async () => {
    const name = 'main.agents.orchestrator_traces';
    await registry.registerPrompt({ name, template: 'You are {{ role }}' });
    const { traceId, spans } = await ourTrace({ name, version: 1 });
    const mark = contract.log.length;
    const outcome = await exportTrace(
      registry,
      { traceId, experimentId: EXPERIMENT, spans, prompts: [{ name, version: 1 }] },
      10_000,
    );
    expect(outcome).toEqual({ exported: true, linked: true });
    expect(
      contract.log.slice(mark).map((r) => `${r.method} ${r.path.replace(traceId, '<id>')} ${r.auth ?? '-'}`),
    ).toEqual([
      'POST /api/3.0/mlflow/traces bearer pat',
      'GET /api/2.0/mlflow/traces/<id>/credentials-for-data-upload bearer pat',
      // The signed URL carries no credential of ours.
      'PUT /signed-upload/<id>/traces.json -',
      'POST /api/2.0/mlflow/unity-catalog/prompt-versions/links-to-traces bearer pat',
    ]);
    expect(contract.prompts.traceLinks.get(traceId)).toEqual(new Set([`${name}/1`]));

    // The SDK's own trace, on the same server: the same fields, the same span keys.
    const pythonId = await oracle.call<string>('start_trace', { name: 'python' });
    const ours = contract.traces.traces.get(traceId);
    const theirs = contract.traces.traces.get(pythonId);
    // Every field the SDK sends, we send (the SDK's test span has no outputs, so no response preview).
    const ourKeys = Object.keys(ours?.info ?? {});
    const theirKeys = Object.keys(theirs?.info ?? {});
    expect(ourKeys).toEqual(expect.arrayContaining(theirKeys));
    expect(ourKeys.filter((k) => !theirKeys.includes(k))).toEqual(['response_preview']);
    expect(ours?.info).toMatchObject({
      trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: EXPERIMENT } },
      state: 'OK',
      tags: { 'mlflow.traceName': 'health_monitor', prompts_loaded: 'orchestrator' },
      trace_metadata: {
        'mlflow.trace_schema.version': '3',
        'mlflow.trace.session': 'conv-1',
        'mlflow.trace.user': 'ana@example.com',
      },
    });
    const ourSpan = ours?.data?.spans[0];
    const theirSpan = theirs?.data?.spans[0];
    expect(ourSpan).toBeDefined();
    expect(theirSpan).toBeDefined();
    expect(Object.keys(ourSpan ?? {}).sort()).toEqual(Object.keys(theirSpan ?? {}).sort());
    expect(ours?.uploadHeaders?.authorization).toBeUndefined();
  });

  it("is read back by MLflow's SDK: spans, tags, previews and token usage", async () => {
    const name = 'main.agents.orchestrator_readback';
    await registry.registerPrompt({ name, template: 'x' });
    const { traceId, spans } = await ourTrace({ name, version: 1 });
    await exportTrace(
      registry,
      { traceId, experimentId: EXPERIMENT, spans, prompts: [{ name, version: 1 }] },
      10_000,
    );
    const read = await oracle.call<{
      state: string;
      tags: Record<string, string>;
      token_usage: Record<string, number> | null;
      request_preview: string;
      spans: { name: string; type: string; inputs: unknown; outputs: unknown; token_usage: unknown }[];
    }>('get_trace', { trace_id: traceId });
    expect(read.state).toBe('OK');
    expect(read.tags).toMatchObject({
      'mlflow.linkedPrompts': linkedPromptsValue([{ name, version: 1 }]),
      prompts_loaded: 'orchestrator',
    });
    expect(read.token_usage).toMatchObject({ input_tokens: 12, output_tokens: 5, total_tokens: 17 });
    expect(read.spans.map((s) => [s.name, s.type])).toEqual([
      ['health_monitor', 'AGENT'],
      ['orchestrator', 'CHAT_MODEL'],
    ]);
    expect(read.spans[0]?.inputs).toEqual({ question: 'Why did cost rise?' });
    expect(read.spans[1]?.outputs).toBe('Because.');
    expect(read.spans[1]?.token_usage).toEqual({ input_tokens: 12, output_tokens: 5, total_tokens: 17 });
  });
});
