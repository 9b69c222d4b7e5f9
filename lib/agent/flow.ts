/**
 * The Health Monitor agent, as the seed describes it, with its eight prompts:
 *
 * 1. the intent classifier picks the domains (its prompt version's response format is the JSON
 *    schema the model must answer in; see classify.ts), unless the request names them;
 * 2. the chosen domain workers run in parallel, each with the request's data for its domain (or
 *    the data provider's; with none, the worker is told there is none, so it cannot invent any);
 * 3. the synthesizer combines their answers into the reply.
 *
 * The orchestrator prompt, formatted with the question and the context (the conversation so far
 * and the domains chosen), is the system message of every call that answers the user (workers and
 * synthesizer); there is no separate orchestrator call. `max_tokens` and sampling settings come
 * from each prompt version's model config, capped. Every model call is a child span of the trace
 * with its inputs, outputs, model and token usage.
 */
import { InternalError, UnsupportedTemplateError } from '../errors';
import type { ChatModel, Completion, CompletionRequest, ModelMessage } from '../model/chat-model';
import type { LoadedPrompt } from '../prompt-loader/loader';
import { formatTemplate, type Template } from '../prompts/template';
import type { JsonObject } from '../registry';
import { ATTR, type TokenUsage } from '../tracing/attributes';
import type { SpanHandle, TraceRecorder } from '../tracing/recorder';
import type { AgentInput } from './chat-agent';
import { type Classification, parseClassification } from './classify';
import type { AgentPrompt } from './contract';
import { type Domain, WORKER_OF } from './domains';

/** Data for a domain the request did not bring (e.g. from system tables); undefined for none. */
export type DataProvider = (domain: Domain, input: AgentInput) => Promise<unknown>;

export interface AgentDeps {
  readonly model: ChatModel;
  readonly trace: TraceRecorder;
  /** The cap on every call's `max_tokens`, and its value when the prompt's model config has none. */
  readonly maxTokens: number;
  readonly dataProvider?: DataProvider | undefined;
  /** Told when the provider failed for a domain (the worker goes on without data). */
  readonly onDataUnavailable?: ((domain: Domain, error: unknown) => void) | undefined;
}

export interface AgentResult {
  readonly answer: string;
  readonly domains: readonly Domain[];
  readonly classification: Classification | undefined;
  readonly finishReason: string | undefined;
  readonly usage: TokenUsage | undefined;
  /**
   * The model's own time on the run's critical path (the classifier, the slowest worker, the
   * synthesizer), from what the endpoint reported; undefined when a call reported none.
   */
  readonly modelMs: number | undefined;
}

export type AgentPrompts = ReadonlyMap<
  string,
  Pick<LoadedPrompt, 'template' | 'modelConfig' | 'responseFormat'>
>;

/** What a worker is told when no data came for its domain. */
export function noDataNotice(domain: Domain): string {
  return (
    `No ${domain} data was provided with this request. Say so plainly, explain what data would ` +
    'answer the question, and do not invent figures.'
  );
}

function promptOf(prompts: AgentPrompts, key: AgentPrompt) {
  const prompt = prompts.get(key);
  // The loader serves all eight or fails; a missing one here is a wiring mistake.
  if (!prompt) throw new InternalError(`The agent's prompt '${key}' was not loaded.`);
  return prompt;
}

/** A formatted template as messages: a text template is one message of `role`. */
function asMessages(template: Template, values: Record<string, string>, role: ModelMessage['role']) {
  const formatted = formatTemplate(template, values);
  if (typeof formatted === 'string') return [{ role, content: formatted }];
  return formatted.map((m): ModelMessage => {
    if (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant') {
      throw new UnsupportedTemplateError(
        `A chat template message has role '${m.role}'; the agent sends system, user and assistant only.`,
      );
    }
    return { role: m.role, content: m.content };
  });
}

const numberIn = (config: JsonObject | undefined, key: string) =>
  typeof config?.[key] === 'number' ? (config[key] as number) : undefined;

/** The request's settings from the prompt version's model config (MLflow's PromptModelConfig). */
export function settingsFrom(
  config: JsonObject | undefined,
  cap: number,
): Omit<CompletionRequest, 'messages'> {
  const stop = config?.stop_sequences;
  return {
    maxTokens: Math.min(numberIn(config, 'max_tokens') ?? cap, cap),
    temperature: numberIn(config, 'temperature'),
    topP: numberIn(config, 'top_p'),
    frequencyPenalty: numberIn(config, 'frequency_penalty'),
    presencePenalty: numberIn(config, 'presence_penalty'),
    stop: Array.isArray(stop) ? stop.filter((s): s is string => typeof s === 'string') : undefined,
  };
}

function addUsage(total: TokenUsage | undefined, usage: Completion['usage']): TokenUsage | undefined {
  if (!usage) return total;
  return {
    inputTokens: (total?.inputTokens ?? 0) + usage.inputTokens,
    outputTokens: (total?.outputTokens ?? 0) + usage.outputTokens,
    totalTokens: (total?.totalTokens ?? 0) + usage.totalTokens,
  };
}

function conversationContext(input: AgentInput, domains: readonly Domain[]): string {
  const history = input.history.map((m) => `${m.role}: ${m.content}`).join('\n');
  return [
    history === ''
      ? 'Conversation so far: (none; this is the first question)'
      : `Conversation so far:\n${history}`,
    `Domains consulted: ${domains.join(', ')}`,
  ].join('\n');
}

function dataText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

export async function runAgent(
  prompts: AgentPrompts,
  input: AgentInput,
  deps: AgentDeps,
): Promise<AgentResult> {
  let usage: TokenUsage | undefined;
  // Zero when the classifier did not run; undefined when a call did not report its time.
  let classifierMs: number | undefined = 0;

  /** One model call in a span of its own; `read` looks at the answer while the span is open. */
  async function call(
    name: string,
    request: CompletionRequest,
    read?: (completion: Completion, span: SpanHandle) => void,
  ): Promise<Completion> {
    return deps.trace.inSpan(name, 'CHAT_MODEL', async (span) => {
      span.setAttribute(ATTR.model, deps.model.name);
      if (deps.model.provider) span.setAttribute(ATTR.provider, deps.model.provider);
      span.setInputs({
        messages: request.messages,
        max_tokens: request.maxTokens,
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        ...(request.jsonSchema ? { response_format: request.jsonSchema.schema } : {}),
      });
      const completion = await deps.model.complete(request);
      span.setOutputs({
        choices: [
          {
            message: { role: 'assistant', content: completion.content },
            finish_reason: completion.finishReason ?? null,
          },
        ],
        model: completion.model,
      });
      if (completion.model !== deps.model.name) span.setAttribute(ATTR.model, completion.model);
      if (completion.usage) span.setTokenUsage(completion.usage);
      if (completion.processingMs !== undefined)
        span.setAttribute('promptops.model.processing_ms', completion.processingMs);
      usage = addUsage(usage, completion.usage);
      read?.(completion, span);
      return completion;
    });
  }

  // A domain's data of null is no data, for the fallback as for the worker.
  const dataDomains = (Object.keys(input.data) as Domain[]).filter((d) => input.data[d] != null);
  let classification: Classification | undefined;
  let domains: readonly Domain[];
  if (input.domains !== undefined) {
    domains = input.domains;
    deps.trace.root.setAttribute('promptops.domains_from', 'request');
  } else {
    const classifier = promptOf(prompts, 'intent_classifier');
    const classified = (completion: Completion, span: SpanHandle) => {
      const result = parseClassification(completion.content, classifier.responseFormat, dataDomains);
      // Recorded where it happened (the classifier's span) and where a trace search sees it (the root).
      for (const target of [span, deps.trace.root]) {
        target.setAttribute('promptops.domains_from', result.fallback ? 'fallback' : 'classifier');
        if (result.fallback) target.setAttribute('promptops.classifier.fallback', result.fallback);
        // What the model named is content: not recorded in metadata-only traces.
        if (result.ignored.length > 0 && deps.trace.recordsContent)
          target.setAttribute('promptops.classifier.ignored', result.ignored);
      }
      classification = result;
    };
    classifierMs = await call(
      'classify_intent',
      {
        messages: asMessages(classifier.template, { query: input.query }, 'user'),
        ...settingsFrom(classifier.modelConfig, deps.maxTokens),
        jsonSchema: classifier.responseFormat
          ? { name: 'intent', schema: classifier.responseFormat }
          : undefined,
      },
      classified,
    ).then((c) => c.processingMs);
    domains = (classification as Classification | undefined)?.domains ?? [];
  }
  deps.trace.root.setAttribute('promptops.domains', [...domains]);

  const orchestrator = promptOf(prompts, 'orchestrator');
  const system = asMessages(
    orchestrator.template,
    { query: input.query, context: conversationContext(input, domains) },
    'system',
  );

  /**
   * The provider's data for a domain, in a span of its own. A provider that fails leaves the
   * worker with no data (it says so) and the run goes on; the failure is on that span.
   */
  async function provided(domain: Domain): Promise<unknown> {
    const provider = deps.dataProvider;
    if (!provider) return undefined;
    try {
      return await deps.trace.inSpan(`data.${domain}`, 'RETRIEVER', async (span) => {
        span.setInputs({ domain });
        const data = await provider(domain, input);
        span.setOutputs(data ?? null);
        return data;
      });
    } catch (error) {
      deps.onDataUnavailable?.(domain, error);
      return undefined;
    }
  }

  // Every worker is awaited, failed or not, before a failure is passed on: none is left running
  // (or recording spans) after the invocation has answered.
  const settled = await Promise.allSettled(
    domains.map(async (domain) => {
      const worker = promptOf(prompts, WORKER_OF[domain]);
      const supplied = input.data[domain] ?? (await provided(domain));
      const completion = await call(`worker.${domain}`, {
        messages: [
          ...system,
          ...asMessages(
            worker.template,
            { query: input.query, data: supplied === undefined ? noDataNotice(domain) : dataText(supplied) },
            'user',
          ),
        ],
        ...settingsFrom(worker.modelConfig, deps.maxTokens),
      });
      return { domain, content: completion.content, processingMs: completion.processingMs };
    }),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const answers = settled.map(
    (s) =>
      (s as PromiseFulfilledResult<{ domain: Domain; content: string; processingMs: number | undefined }>)
        .value,
  );

  const synthesizer = promptOf(prompts, 'synthesizer');
  const final = await call('synthesize', {
    messages: [
      ...system,
      ...asMessages(
        synthesizer.template,
        {
          query: input.query,
          domain_responses: answers.map((a) => `## ${a.domain}\n${a.content}`).join('\n\n'),
        },
        'user',
      ),
    ],
    ...settingsFrom(synthesizer.modelConfig, deps.maxTokens),
  });
  const workerMs = answers.map((a) => a.processingMs);
  const reported = [classifierMs, ...workerMs, final.processingMs];
  const modelMs = reported.every((ms) => ms !== undefined)
    ? (classifierMs as number) + Math.max(0, ...(workerMs as number[])) + (final.processingMs as number)
    : undefined;
  return { answer: final.content, domains, classification, finishReason: final.finishReason, usage, modelMs };
}
