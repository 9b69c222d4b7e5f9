/**
 * The agent's interface: MLflow's ChatAgent request and response, as MLflow 3.17.2 defines them
 * (`mlflow/types/agent.py`), which the seed's agent implements. The request is checked strictly
 * (a field MLflow does not define is refused, not ignored), plus the shorthand `{ query, data? }`,
 * and turned into what the agent works with. Limits keep one request from filling a model's
 * context or MLflow's trace store; each refusal names the field.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { InvalidInputError } from '../errors';
import { parseRequest } from '../http/request';
import { PROMPT_SOURCES, type PromptSource } from '../prompt-loader/loader';
import { DOMAINS, type Domain } from './domains';

/** The longest question (the last user message), in characters. */
export const MAX_QUERY_CHARS = 8_000;
/** The most messages one request may carry (the conversation so far included). */
export const MAX_MESSAGES = 50;
/** The longest earlier message, in characters. */
export const MAX_MESSAGE_CHARS = 32_000;
/** The most `custom_inputs.data` may weigh, as JSON, in characters. */
export const MAX_DATA_CHARS = 64 * 1024;
const MAX_ID_CHARS = 256;

const domain = z.enum(DOMAINS, { error: `expected one of ${DOMAINS.join(', ')}` });
const id = z.string().max(MAX_ID_CHARS);

const toolCall = z.strictObject({
  id: z.string(),
  type: z.string().optional(),
  function: z.strictObject({ name: z.string().nullish(), arguments: z.string().nullish() }),
  thought_signature: z.string().nullish(),
});

const message = z
  .strictObject({
    role: z.string().min(1),
    content: z.string().max(MAX_MESSAGE_CHARS).nullish(),
    name: z.string().nullish(),
    id: id.nullish(),
    tool_calls: z.array(toolCall).nullish(),
    tool_call_id: z.string().nullish(),
    attachments: z.record(z.string(), z.string()).nullish(),
  })
  .superRefine((m, ctx) => {
    if (m.content == null && m.tool_calls == null) {
      ctx.addIssue({ code: 'custom', message: "either 'content' or 'tool_calls' must be provided" });
    }
    if (m.role === 'tool' && (!m.name || !m.tool_call_id)) {
      ctx.addIssue({ code: 'custom', message: "a tool message needs 'name' and 'tool_call_id'" });
    }
  });

const data = z.partialRecord(domain, z.json()).superRefine((value, ctx) => {
  if (JSON.stringify(value).length > MAX_DATA_CHARS) {
    ctx.addIssue({ code: 'custom', message: `at most ${MAX_DATA_CHARS} characters of JSON` });
  }
});

const customInputs = z.strictObject({
  /** Data for the domain workers, by domain. */
  data: data.optional(),
  /** The domains to ask; skips the intent classifier. */
  domains: z.array(domain).min(1).max(DOMAINS.length).optional(),
});

export const chatAgentRequestSchema = z.strictObject({
  messages: z.array(message).min(1, 'at least one message').max(MAX_MESSAGES),
  context: z.strictObject({ conversation_id: id.nullish(), user_id: id.nullish() }).nullish(),
  custom_inputs: customInputs.nullish(),
  stream: z.boolean().nullish(),
});
export type ChatAgentRequest = z.infer<typeof chatAgentRequestSchema>;

export const shorthandRequestSchema = z.strictObject({
  query: z.string().trim().min(1, 'expected a question').max(MAX_QUERY_CHARS),
  data: data.optional(),
});

/** What the agent works with, whichever form the request came in. */
export interface AgentInput {
  /** The question: the last user message. */
  readonly query: string;
  /** The messages before it (the conversation so far), text only. */
  readonly history: readonly { readonly role: string; readonly content: string }[];
  readonly conversationId: string | undefined;
  readonly userId: string | undefined;
  readonly data: Readonly<Partial<Record<Domain, unknown>>>;
  /** Domains the caller chose; the classifier is skipped. */
  readonly domains: readonly Domain[] | undefined;
}

/** A request body (already JSON-parsed) as the agent's input, or a 400 naming what is wrong. */
export function parseAgentRequest(body: unknown): AgentInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError('The request body must be a JSON object (a ChatAgentRequest).');
  }
  if (!('messages' in body) && 'query' in body) {
    const short = parseRequest(shorthandRequestSchema, body, 'request');
    return {
      query: short.query,
      history: [],
      conversationId: undefined,
      userId: undefined,
      data: short.data ?? {},
      domains: undefined,
    };
  }
  if ((body as { stream?: unknown }).stream === true) {
    throw new InvalidInputError('Streaming is not supported: send "stream": false or leave it out.', {
      issues: [{ path: 'stream', message: 'streaming is not supported' }],
    });
  }
  const request = parseRequest(chatAgentRequestSchema, body, 'ChatAgentRequest');
  const lastUser = request.messages.findLastIndex(
    (m) => m.role === 'user' && (m.content ?? '').trim() !== '',
  );
  if (lastUser < 0) {
    throw new InvalidInputError('The request has no user message with content to answer.', {
      issues: [{ path: 'messages', message: 'expected a user message with content' }],
    });
  }
  const after = request.messages.findIndex(
    (m, i) => i > lastUser && ((m.content ?? '').trim() !== '' || m.tool_calls != null),
  );
  if (after >= 0) {
    // The agent answers the last user message; what follows it would be silently ignored.
    throw new InvalidInputError("The conversation must end with the user's question.", {
      issues: [{ path: `messages.${after}`, message: 'expected no message after the last user message' }],
    });
  }
  const query = (request.messages[lastUser]?.content ?? '').trim();
  if (query.length > MAX_QUERY_CHARS) {
    throw new InvalidInputError(`The question is longer than ${MAX_QUERY_CHARS} characters.`, {
      issues: [{ path: `messages.${lastUser}.content`, message: `at most ${MAX_QUERY_CHARS} characters` }],
    });
  }
  return {
    query,
    history: request.messages
      .slice(0, lastUser)
      .filter((m) => typeof m.content === 'string' && m.content !== '')
      .map((m) => ({ role: m.role, content: m.content as string })),
    conversationId: request.context?.conversation_id ?? undefined,
    userId: request.context?.user_id ?? undefined,
    data: request.custom_inputs?.data ?? {},
    domains: request.custom_inputs?.domains,
  };
}

export interface PromptUse {
  /** The registry name. */
  readonly name: string;
  readonly version: number | null;
  readonly alias: string | null;
  readonly source: PromptSource;
}

export interface ChatAgentAnswer {
  readonly answer: string;
  readonly traceId: string;
  readonly domains: readonly Domain[];
  readonly prompts: readonly PromptUse[];
  readonly finishReason: string | undefined;
  readonly usage: { inputTokens: number; outputTokens: number; totalTokens: number } | undefined;
}

/** The response as this agent sends it: MLflow's ChatAgentResponse with our custom_outputs. */
export const chatAgentResponseSchema = z.object({
  messages: z
    .array(z.looseObject({ role: z.string(), content: z.string().nullish(), id: z.string() }))
    .min(1),
  finish_reason: z.string().nullish(),
  custom_outputs: z.object({
    traceId: z.string(),
    domains: z.array(z.string()),
    prompts: z.array(
      z.object({
        name: z.string(),
        version: z.number().int().nullable(),
        alias: z.string().nullable(),
        source: z.enum(PROMPT_SOURCES),
      }),
    ),
  }),
  usage: z
    .object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() })
    .optional(),
});
export type ChatAgentResponse = z.infer<typeof chatAgentResponseSchema>;

/** MLflow's ChatAgentResponse: one assistant message with an id, our outputs in custom_outputs. */
export function chatAgentResponse(
  answer: ChatAgentAnswer,
  messageId: string = randomUUID(),
): ChatAgentResponse {
  return {
    messages: [{ role: 'assistant', content: answer.answer, id: messageId }],
    finish_reason: answer.finishReason ?? 'stop',
    custom_outputs: { traceId: answer.traceId, domains: [...answer.domains], prompts: [...answer.prompts] },
    ...(answer.usage
      ? {
          usage: {
            prompt_tokens: answer.usage.inputTokens,
            completion_tokens: answer.usage.outputTokens,
            total_tokens: answer.usage.totalTokens,
          },
        }
      : {}),
  };
}
