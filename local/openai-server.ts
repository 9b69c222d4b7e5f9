/**
 * An OpenAI-compatible chat-completions endpoint on loopback, over any `ChatEngine` (the local
 * GGUF model in `npm start`). It speaks the part of the API the agent's model client uses, so the
 * client talks to it as to OpenAI, vLLM or Databricks serving: `POST /v1/chat/completions`
 * (non-streaming), `response_format` (`json_schema` or `json_object`), `max_tokens`, sampling,
 * `stop`, and token usage in every answer; `GET /v1/models` lists the one model. Errors use
 * OpenAI's `{error: {message, type, code}}` shape.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { BRIEFLY, zodIssues } from '../lib/errors';
import {
  type ChatEngine,
  ContextLengthError,
  type EngineRequest,
  UnsupportedSchemaError,
} from './llama-engine';

export interface OpenAiServerOptions {
  readonly engine: ChatEngine;
  /** Used when a request sets no `max_tokens`, and the most any request gets: the local model is slow. */
  readonly maxTokens: number;
  readonly port?: number;
}

export interface OpenAiServer {
  /** The base URL to configure, with `/v1`. */
  readonly url: string;
  readonly model: string;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 1_000_000;

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const requestSchema = z.object({
  model: z.string().optional(),
  messages: z
    .array(
      z.object({
        role: z.enum(['system', 'developer', 'user', 'assistant']),
        content: z.union([z.string(), z.array(textPart)]),
      }),
    )
    .min(1, 'expected at least one message'),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
  stream: z.boolean().optional(),
  n: z.number().int().optional(),
  tools: z.array(z.unknown()).optional(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()) }),
      }),
    ])
    .optional(),
});
type ChatRequest = z.infer<typeof requestSchema>;

class ClientError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

function sendError(response: ServerResponse, error: ClientError): void {
  const type = error.status >= 500 ? 'server_error' : 'invalid_request_error';
  // The rest of an oversized body is never read: the connection cannot carry another request.
  if (error.status === 413) response.setHeader('connection', 'close');
  send(response, error.status, { error: { message: error.message, type, code: error.code } });
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new ClientError(`the request body is over ${MAX_BODY_BYTES} bytes`, 'body_too_large', 413);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ClientError('the request body is not JSON', 'invalid_json');
  }
}

/** The engine's request from the API's, or a ClientError naming what is wrong. */
function engineRequest(body: unknown, cap: number, signal?: AbortSignal): EngineRequest {
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) throw new ClientError(zodIssues(parsed.error, BRIEFLY).line, 'invalid_request');
  const chat: ChatRequest = parsed.data;
  if (chat.stream)
    throw new ClientError('streaming is not supported here; send stream: false', 'unsupported');
  // Refused rather than ignored: a caller relying on them would get something else than it asked for.
  if (chat.n !== undefined && chat.n !== 1)
    throw new ClientError('one choice per request here; send n: 1 or leave it out', 'unsupported');
  if (chat.tools && chat.tools.length > 0)
    throw new ClientError('tool calls are not supported by the local model', 'unsupported');
  const format = chat.response_format;
  const asked = chat.max_completion_tokens ?? chat.max_tokens ?? cap;
  return {
    messages: chat.messages.map((message) => ({
      role: message.role === 'developer' ? 'system' : message.role,
      content:
        typeof message.content === 'string' ? message.content : message.content.map((p) => p.text).join(''),
    })),
    maxTokens: Math.min(asked, cap),
    ...(chat.temperature === undefined ? {} : { temperature: chat.temperature }),
    ...(chat.top_p === undefined ? {} : { topP: chat.top_p }),
    ...(chat.frequency_penalty ? { frequencyPenalty: Math.max(chat.frequency_penalty, 0) } : {}),
    ...(chat.presence_penalty ? { presencePenalty: Math.max(chat.presence_penalty, 0) } : {}),
    ...(chat.stop === undefined ? {} : { stop: typeof chat.stop === 'string' ? [chat.stop] : chat.stop }),
    ...(format?.type === 'json_schema' ? { jsonSchema: format.json_schema.schema } : {}),
    ...(format?.type === 'json_object' ? { json: true } : {}),
    ...(signal ? { signal } : {}),
  };
}

export async function startOpenAiServer(options: OpenAiServerOptions): Promise<OpenAiServer> {
  const { engine } = options;
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method === 'GET' && path === '/v1/models') {
      send(response, 200, {
        object: 'list',
        data: [{ id: engine.name, object: 'model', owned_by: 'local' }],
      });
      return;
    }
    if (path !== '/v1/chat/completions')
      throw new ClientError(`no route for ${request.method} ${path}`, 'not_found', 404);
    if (request.method !== 'POST')
      throw new ClientError(`${path} takes POST, not ${request.method}`, 'method_not_allowed', 405);
    // A client that hangs up stops its generation, so the next request in the queue starts.
    const gone = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) gone.abort();
    });
    const wanted = engineRequest(await readJson(request), options.maxTokens, gone.signal);
    const started = Math.floor(Date.now() / 1000);
    let answer: Awaited<ReturnType<ChatEngine['complete']>>;
    try {
      answer = await engine.complete(wanted);
    } catch (error) {
      if (error instanceof UnsupportedSchemaError) throw new ClientError(error.message, 'unsupported_schema');
      if (error instanceof ContextLengthError)
        throw new ClientError(error.message, 'context_length_exceeded');
      throw error;
    }
    send(response, 200, {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: started,
      model: engine.name,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: answer.text },
          finish_reason: answer.finishReason,
        },
      ],
      usage: {
        prompt_tokens: answer.promptTokens,
        completion_tokens: answer.completionTokens,
        total_tokens: answer.promptTokens + answer.completionTokens,
      },
    });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent || response.destroyed) return;
      sendError(
        response,
        error instanceof ClientError
          ? error
          : new ClientError('the local model failed to answer; see the stack output', 'model_failed', 500),
      );
      if (!(error instanceof ClientError)) process.stderr.write(`local model: ${(error as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    model: engine.name,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.close();
    },
  };
}
