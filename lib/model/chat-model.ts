/**
 * The agent's model: any OpenAI-compatible chat-completions endpoint (OpenAI, Databricks model
 * serving, vLLM, llama.cpp's server). `POST {baseUrl}/chat/completions`, where `baseUrl` includes
 * the version path (`https://api.openai.com/v1`), as the OpenAI SDKs' `OPENAI_BASE_URL` does.
 *
 * Over undici (already in every bundle) rather than the `openai` package, which would add about
 * 390 KB to the bundle and 40 ms to every cold start for one POST (README, "The model"). Retries
 * are the project's one retry loop (408, 429, 5xx and connection errors, backoff with jitter,
 * `Retry-After`), bounded by the caller's deadline. The API key leaves only as the
 * `Authorization` header and is scrubbed from anything the endpoint says back.
 */
import type { Dispatcher } from 'undici';
import * as z from 'zod';
import { BRIEFLY, InvalidInputError, isPromptOpsError, ModelError, zodIssues } from '../errors';
import { normaliseBaseUrl } from '../http/base-url';
import { exchangeRenewing, type RenewedAuth, redact } from '../http/renewed-auth';
import type { Attempt, RetryOptions, RetryPolicy } from '../http/retries';
import { callWithRetries, DEFAULT_RETRY, parseRetryAfter, retryClock } from '../http/retries';
import { type Exchange, noAnswerReason, sharedAgent } from '../http/undici-parts';
import type { JsonObject } from '../registry';

export interface ModelMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export interface CompletionRequest {
  readonly messages: readonly ModelMessage[];
  readonly maxTokens: number;
  readonly temperature?: number | undefined;
  readonly topP?: number | undefined;
  readonly frequencyPenalty?: number | undefined;
  readonly presencePenalty?: number | undefined;
  readonly stop?: readonly string[] | undefined;
  /** Structured output: the answer must be JSON matching this schema (OpenAI's `json_schema`). */
  readonly jsonSchema?: { readonly name: string; readonly schema: JsonObject } | undefined;
}

export interface Completion {
  readonly content: string;
  /** The model that answered, as the endpoint names it (or the configured name). */
  readonly model: string;
  readonly finishReason: string | undefined;
  readonly usage: { inputTokens: number; outputTokens: number; totalTokens: number } | undefined;
  /**
   * The milliseconds the endpoint says it spent (`openai-processing-ms`, as OpenAI's API and
   * compatible servers send it), when it says: a latency free of the network and of our machine.
   */
  readonly processingMs?: number | undefined;
}

export interface ChatModel {
  /** The configured model name (what requests ask for). */
  readonly name: string;
  /** The endpoint's base URL, without credentials (for spans and logs). */
  readonly baseUrl: string;
  /** MLflow's provider name for it (`openai`, `databricks`, ...), when configured: MLflow prices tokens by it. */
  readonly provider?: string | undefined;
  complete(request: CompletionRequest): Promise<Completion>;
  /** HTTP requests sent so far. */
  readonly requestCount: number;
}

export interface ChatModelOptions extends RetryOptions {
  /** e.g. `https://api.openai.com/v1`, `https://<workspace>/serving-endpoints`, `http://127.0.0.1:8080/v1`. */
  readonly baseUrl: string;
  readonly name: string;
  readonly apiKey?: string | undefined;
  /** Instead of `apiKey`: a renewed token (a 401 renews it, and the request is sent again once). */
  readonly credentials?: RenewedAuth | undefined;
  readonly provider?: string | undefined;
  readonly dispatcher?: Dispatcher | undefined;
  /** The most one attempt may take (default 60 s); the caller's deadline bounds it further. */
  readonly timeoutMs?: number | undefined;
}

/** Overloaded or throttled (529 is some gateways' "overloaded"), or a transient server failure. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504, 529]);

const completionSchema = z.looseObject({
  model: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({ content: z.string().nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: z
    .looseObject({
      prompt_tokens: z.number().int().nonnegative(),
      completion_tokens: z.number().int().nonnegative(),
      total_tokens: z.number().int().nonnegative().optional(),
    })
    .nullish(),
});

/** The endpoint's own words about a refusal (OpenAI's `{"error": {"message"}}`), if any. */
function refusalDetail(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const message = typeof body.error === 'string' ? body.error : (body.error?.message ?? body.message);
    return typeof message === 'string' ? message.slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

export function requestBody(name: string, request: CompletionRequest): Record<string, unknown> {
  return {
    model: name,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    max_tokens: request.maxTokens,
    stream: false,
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.topP === undefined ? {} : { top_p: request.topP }),
    ...(request.frequencyPenalty === undefined ? {} : { frequency_penalty: request.frequencyPenalty }),
    ...(request.presencePenalty === undefined ? {} : { presence_penalty: request.presencePenalty }),
    ...(request.stop && request.stop.length > 0 ? { stop: request.stop } : {}),
    ...(request.jsonSchema
      ? {
          response_format: {
            type: 'json_schema',
            json_schema: { name: request.jsonSchema.name, schema: request.jsonSchema.schema },
          },
        }
      : {}),
  };
}

/** A header's milliseconds, or undefined when absent or not a plain non-negative number. */
export function processingMsOf(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[0-9]{1,9}(\.[0-9]{1,6})?$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

export function createChatModel(options: ChatModelOptions): ChatModel {
  const baseUrl = normaliseBaseUrl(options.baseUrl, 'model base URL');
  if (options.name.trim() === '') throw new InvalidInputError('The model name is empty.');
  if (options.apiKey && options.credentials)
    throw new InvalidInputError('Give the model an API key or renewed credentials, not both.');
  const credentials = options.credentials;
  const url = new URL(`${baseUrl}/chat/completions`);
  const dispatcher = options.dispatcher ?? sharedAgent();
  const policy: RetryPolicy = { ...DEFAULT_RETRY, maxElapsedMs: 120_000, ...options.retry };
  const clock = retryClock(options);
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/json',
    'user-agent': 'promptops',
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
  };
  const secrets = options.apiKey ? [options.apiKey] : [];
  // A renewed token is not known in advance: the one just sent is scrubbed too.
  const scrub = (text: string, header?: string) => redact(text, secrets, header);
  let requestCount = 0;

  function failure(message: string, status: number | undefined, cause?: unknown, retryAfterMs?: number) {
    return new ModelError(`model ${options.name} at ${baseUrl}: ${message}`, {
      httpStatus: status,
      ...(cause === undefined ? {} : { cause }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  async function attempt(
    body: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Attempt<Completion>> {
    let answer: Exchange;
    let header: string | undefined;
    try {
      const sent = await exchangeRenewing(
        dispatcher,
        { origin: url.origin, path: url.pathname, method: 'POST', headers, body },
        credentials,
        timeoutMs,
        signal,
      );
      requestCount += sent.sent;
      answer = sent.answer;
      header = sent.header;
    } catch (cause) {
      requestCount += 1;
      // Getting a token failed with its own error (refused client credentials): kept.
      if (isPromptOpsError(cause)) return { error: cause, retryable: cause.retryable };
      return { error: failure(`no answer (${noAnswerReason(cause)})`, undefined, cause), retryable: true };
    }
    if (answer.status < 200 || answer.status >= 300) {
      const retryAfterMs = parseRetryAfter(answer.retryAfter, clock.now());
      const detail = refusalDetail(scrub(answer.text, header));
      return {
        error: failure(
          `HTTP ${answer.status}${detail ? `: ${detail}` : ''}`,
          answer.status,
          undefined,
          retryAfterMs,
        ),
        retryable: RETRYABLE_STATUS.has(answer.status),
        retryAfterMs,
      };
    }
    return parseCompletion(answer.text, processingMsOf(answer.headers?.['openai-processing-ms']));
  }

  function parseCompletion(text: string, processingMs: number | undefined): Attempt<Completion> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // The parser's message quotes the body, which may echo the key: it is not kept.
      return { error: failure('the answer is not JSON', 200), retryable: false };
    }
    const parsed = completionSchema.safeParse(json);
    if (!parsed.success) {
      const where = zodIssues(parsed.error, BRIEFLY).line;
      return { error: failure(`the answer is not a chat completion (${where})`, 200), retryable: false };
    }
    const choice = parsed.data.choices[0];
    const usage = parsed.data.usage;
    return {
      value: {
        content: choice?.message.content ?? '',
        model: parsed.data.model || options.name,
        finishReason: choice?.finish_reason ?? undefined,
        usage: usage
          ? {
              inputTokens: usage.prompt_tokens,
              outputTokens: usage.completion_tokens,
              totalTokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
            }
          : undefined,
        ...(processingMs === undefined ? {} : { processingMs }),
      },
      retryable: false,
    };
  }

  return {
    name: options.name,
    baseUrl,
    provider: options.provider,
    get requestCount() {
      return requestCount;
    },
    complete(request) {
      const body = JSON.stringify(requestBody(options.name, request));
      return callWithRetries<Completion>({
        operation: `model ${options.name}`,
        policy,
        clock,
        attemptTimeoutMs: options.timeoutMs ?? 60_000,
        attempt: (timeoutMs, signal) => attempt(body, timeoutMs, signal),
      });
    },
  };
}
