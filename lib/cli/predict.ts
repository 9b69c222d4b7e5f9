/**
 * `promptops predict "<question>"`: the agent from the command line. In-process by default (the
 * same service as the Lambda: registry from MLFLOW_TRACKING_URI, model from OPENAI_BASE_URL,
 * OPENAI_API_KEY and --model or PROMPTOPS_MODEL, traces to the same MLflow); with --api URL or
 * PROMPTOPS_API_URL (unless --local), the deployed `POST /predict`, signed as `promote` is, where
 * the stage decides the alias and the model.
 *
 * `--json` prints exactly one object: `{answer, traceId, domains, prompts}`, or on failure
 * `{"error": {code, message}}` and one line on stderr; exit 0 answered, 1 failed, 2 wrong usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type AgentInput,
  type ChatAgentAnswer,
  chatAgentResponseSchema,
  parseAgentRequest,
} from '../agent/chat-agent';
import { type AgentContract, isAgentPrompt } from '../agent/contract';
import { contractForDirectory } from '../agent/directory-contract';
import { parseEnv } from '../config/env';
import { isPromptOpsError, MalformedResponseError } from '../errors';
import { normaliseTrackingUri } from '../http/base-url';
import { problemOf } from '../http/signed-client';
import { createChatModel } from '../model/chat-model';
import { createLogger, type Logger } from '../observability/logger';
import { discardMetrics } from '../observability/metrics';
import { createPredictService } from '../predict/service';
import { predictSettings, predictSettingsSchema } from '../predict/settings';
import { type PromptSnapshot, snapshotFromFiles } from '../prompt-loader/snapshot';
import { loadPromptFiles } from '../prompts/directory';
import { validateAliasName } from '../prompts/names';
import { namingFromEnv } from '../prompts/naming';
import { dataProviderFor, statementRunnerFor } from '../runtime/data-provider';
import { deadlineIn } from '../runtime/deadline';
import { createTracer } from '../tracing/recorder';
import { asUsage, type CliIo, oneLine, UsageError } from './io';
import { COMMON, clientFrom, reportFailure } from './promote';
import { cliRegistryFromEnv, databricksCredentialsFromEnv } from './registry-from-env';

/** In-process, the command's whole run may take this long (the deployed function has 29 s). */
const LOCAL_DEADLINE_MS = 120_000;
/** Where the OpenAI SDKs send requests when OPENAI_BASE_URL is not set. */
const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export interface PredictJson {
  readonly answer: string;
  readonly traceId: string;
  readonly domains: readonly string[];
  readonly prompts: ChatAgentAnswer['prompts'];
}

interface Answered {
  readonly answer: ChatAgentAnswer;
  /** Where MLflow's UI is, when known, for the links printed after the answer. */
  readonly ui:
    | {
        readonly base: string;
        readonly experimentId: string;
        /** A Databricks workspace's UI (`/ml/experiments/...`) rather than MLflow's (`/#/experiments/...`). */
        readonly workspace?: boolean;
      }
    | undefined;
}

function readData(file: string | undefined): unknown {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--data: cannot read '${file}'.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`--data: '${file}' is not JSON.`);
  }
}

/** The bundled fallback's stand-in for a local run: the prompt files in `dir`, if it exists. */
async function localSnapshot(
  dir: string,
  naming: ReturnType<typeof namingFromEnv>,
  contract: AgentContract,
): Promise<PromptSnapshot | undefined> {
  if (!existsSync(dir)) return undefined;
  const files = (await loadPromptFiles([dir])).filter((f) => isAgentPrompt(f.name, contract));
  return snapshotFromFiles(files, naming);
}

/** The service's warnings (a fallback, a trace not stored) as lines for people, or nothing. */
function warningsTo(io: CliIo, quiet: boolean): Logger {
  const write = (line: string) => {
    if (quiet) return;
    const entry = JSON.parse(line) as Record<string, unknown>;
    const about = typeof entry.prompt === 'string' ? ` (${entry.prompt})` : '';
    const cause = typeof entry.cause === 'string' ? `: ${entry.cause}` : '';
    io.stderr(`promptops: warning: ${String(entry.message)}${about}${cause}\n`);
  };
  return createLogger({ service: 'promptops', level: 'WARN', write }, { function: 'cli' });
}

/** MLflow's UI address: the tracking URI without any credentials it carries. */
function uiBase(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  try {
    return normaliseTrackingUri(uri);
  } catch {
    return undefined;
  }
}

async function predictLocally(
  input: AgentInput,
  values: {
    alias?: string | undefined;
    model?: string | undefined;
    prompts?: string | undefined;
    json?: boolean | undefined;
  },
  io: CliIo,
): Promise<Answered> {
  const env = io.env;
  const settings = predictSettings(asUsage(() => parseEnv(predictSettingsSchema, env)));
  const alias =
    values.alias === undefined ? settings.alias : asUsage(() => validateAliasName(values.alias as string));
  const databricks = databricksCredentialsFromEnv(env, undefined);
  // On Databricks, with no other endpoint named, the model is a serving endpoint of the workspace.
  const workspace = env.OPENAI_BASE_URL || env.OPENAI_API_KEY ? undefined : databricks;
  if (!env.OPENAI_BASE_URL && !env.OPENAI_API_KEY && !workspace) {
    throw new UsageError(
      'No model: set OPENAI_BASE_URL (an OpenAI-compatible endpoint, with /v1) or OPENAI_API_KEY (for OpenAI), or use a Databricks workspace (its serving endpoints).',
    );
  }
  const modelName = values.model ?? env.PROMPTOPS_MODEL;
  if (!modelName)
    throw new UsageError(
      `No model name: pass --model NAME or set PROMPTOPS_MODEL${workspace ? ' (the serving endpoint)' : ''}.`,
    );
  const model = asUsage(() =>
    workspace
      ? createChatModel({
          baseUrl: `${workspace.host}/serving-endpoints`,
          name: modelName,
          credentials: workspace,
          provider: env.PROMPTOPS_MODEL_PROVIDER || 'databricks',
        })
      : createChatModel({
          baseUrl: env.OPENAI_BASE_URL || OPENAI_DEFAULT_BASE_URL,
          name: modelName,
          apiKey: env.OPENAI_API_KEY || undefined,
          provider: env.PROMPTOPS_MODEL_PROVIDER || undefined,
        }),
  );
  const dir = values.prompts ?? 'prompts';
  if (values.prompts !== undefined && !existsSync(dir))
    throw new UsageError(`--prompts: no directory '${dir}'.`);
  const contract = contractForDirectory(dir);
  const registry = cliRegistryFromEnv(env, {});
  const naming = namingFromEnv(env);
  const snapshot = await localSnapshot(dir, naming, contract);
  const service = createPredictService({
    settings: { ...settings, alias },
    naming,
    contract,
    registry,
    model: async () => model,
    snapshot: () => snapshot,
    tracer: createTracer({ content: settings.content }),
    dataProvider: dataProviderFor(settings.data, async () => {
      if (!databricks)
        throw new UsageError(
          'PREDICT_DATA_SOURCE=system-tables needs a Databricks workspace (MLFLOW_TRACKING_URI=databricks).',
        );
      return statementRunnerFor(databricks);
    }),
  });
  // With --json, what was served (and how) is in the object's prompts; stderr stays for failures.
  const log = warningsTo(io, values.json === true);
  try {
    const answer = await service.predict(input, {
      log,
      metrics: discardMetrics,
      deadline: deadlineIn(LOCAL_DEADLINE_MS),
    });
    const experimentId = await service.experimentId().catch(() => '0');
    if (databricks) return { answer, ui: { base: databricks.host, experimentId, workspace: true } };
    const base = uiBase(env.MLFLOW_TRACKING_URI);
    return { answer, ui: base ? { base, experimentId } : undefined };
  } finally {
    registry.close();
  }
}

async function predictRemotely(
  input: AgentInput,
  values: Parameters<typeof clientFrom>[0],
  io: CliIo,
): Promise<Answered> {
  const client = clientFrom(values, io.env);
  try {
    const body = {
      messages: [{ role: 'user', content: input.query }],
      ...(Object.keys(input.data).length > 0 ? { custom_inputs: { data: input.data } } : {}),
    };
    const parsed = chatAgentResponseSchema.safeParse(await client.predict(body));
    if (!parsed.success)
      throw new MalformedResponseError("The predict API's answer is not a ChatAgentResponse.");
    const outputs = parsed.data.custom_outputs;
    const answer: ChatAgentAnswer = {
      answer: parsed.data.messages.at(-1)?.content ?? '',
      traceId: outputs.traceId,
      domains: outputs.domains as ChatAgentAnswer['domains'],
      prompts: outputs.prompts,
      finishReason: parsed.data.finish_reason ?? undefined,
      usage: undefined,
    };
    // The deployed stage's MLflow is the caller's to name, if they want links.
    const base = uiBase(io.env.MLFLOW_TRACKING_URI);
    return { answer, ui: base ? { base, experimentId: io.env.MLFLOW_EXPERIMENT_ID || '0' } : undefined };
  } finally {
    await client.close();
  }
}

export function predictJson(answer: ChatAgentAnswer): PredictJson {
  return { answer: answer.answer, traceId: answer.traceId, domains: answer.domains, prompts: answer.prompts };
}

/** The answer for people, then where to see its trace and each prompt in MLflow's UI. */
export function describeAnswer(answer: ChatAgentAnswer, ui: Answered['ui']): string {
  const lines = [answer.answer.trim(), ''];
  const experiment = ui && `${ui.base}${ui.workspace ? '/ml' : '/#'}/experiments/${ui.experimentId}`;
  lines.push(
    experiment
      ? `trace:   ${experiment}/traces?selectedEvaluationId=${answer.traceId}`
      : `trace:   ${answer.traceId}`,
  );
  for (const p of answer.prompts) {
    const version = p.version === null ? 'unversioned' : `v${p.version}`;
    const where = experiment ? `  ${experiment}/prompts/${encodeURIComponent(p.name)}` : '';
    lines.push(`prompt:  ${p.name} ${version}${p.alias ? ` @${p.alias}` : ''} (${p.source})${where}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function predictCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      ...COMMON,
      data: { type: 'string' },
      alias: { type: 'string' },
      model: { type: 'string' },
      prompts: { type: 'string' },
      local: { type: 'boolean' },
    },
  });
  const [question, ...rest] = positionals;
  if (question === undefined || rest.length > 0)
    throw new UsageError('predict takes exactly one question (quote it).');
  if (values.local && values.api !== undefined) throw new UsageError('Pass --api or --local, not both.');
  const remote = !values.local && (values.api !== undefined || Boolean(io.env.PROMPTOPS_API_URL));
  if (remote && (values.alias !== undefined || values.model !== undefined)) {
    throw new UsageError(
      '--alias and --model are for local runs: the deployed stage decides them (or pass --local).',
    );
  }
  if (remote && values.prompts !== undefined) {
    throw new UsageError(
      '--prompts is for local runs: the deployed function has the prompts it was built with (or pass --local).',
    );
  }
  const data = readData(values.data);
  // The question and data through the API's own shorthand schema: the same limits, the same words.
  const input = asUsage(() =>
    parseAgentRequest({ query: question, ...(data === undefined ? {} : { data }) }),
  );
  try {
    const { answer, ui } = remote
      ? await predictRemotely(input, values, io)
      : await predictLocally(input, values, io);
    io.stdout(values.json ? `${JSON.stringify(predictJson(answer))}\n` : describeAnswer(answer, ui));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (values.json) {
      // The server's own code and words when it refused; ours otherwise. One line on stderr.
      const problem = problemOf(error);
      const code = problem?.code ?? (isPromptOpsError(error) ? error.code : 'INTERNAL');
      const message = oneLine(problem?.detail ?? (error instanceof Error ? error.message : String(error)));
      io.stdout(`${JSON.stringify({ error: { code, message } })}\n`);
      io.stderr(`promptops: ${code}: ${message}\n`);
      return 1;
    }
    if (!isPromptOpsError(error)) {
      io.stderr(
        `promptops: unexpected error: ${oneLine(error instanceof Error ? error.message : String(error))}\n`,
      );
      return 1;
    }
    return reportFailure(error, io);
  }
}
