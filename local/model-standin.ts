/**
 * A deterministic stand-in for an OpenAI-compatible model, for tests, benchmarks and `npm start`
 * (whose predict answers with it). It is not a model: every answer says so ("[stand-in model]") and its
 * model id is `promptops-standin`. It speaks the part of the chat-completions API the agent uses:
 *
 * - a request with a JSON-schema `response_format` (the intent classifier) gets JSON naming the
 *   domains whose keywords appear in the question (cost when none does);
 * - any other request gets one line naming the prompt it answers, the question, and whether data
 *   came with it; usage counts are characters / 4, rounded up.
 *
 * Tests steer it: queue failures (`fail`), replace the classifier's answer (`classifierReply`),
 * add latency, change what it reports or fail by the request (`behaviour`), and read every
 * request it received. Every answer says how long it "took" in `openai-processing-ms`, as
 * OpenAI's API does: a fixed function of the request (reportedProcessingMs).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const STANDIN_MODEL = 'promptops-standin';
export const STANDIN_LABEL = '[stand-in model]';

const KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  cost: ['cost', 'spend', 'dbu', 'bill', 'budget', 'price', 'expensive'],
  security: ['security', 'login', 'permission', 'access', 'audit', 'compliance'],
  performance: ['slow', 'performance', 'latency', 'cache', 'utilization', 'photon'],
  reliability: ['fail', 'job', 'sla', 'pipeline', 'reliab', 'error', 'outage'],
  quality: ['quality', 'fresh', 'schema', 'null', 'drift', 'stale data'],
};

export interface StandinRequest {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown>;
}

export interface StandinFault {
  readonly status: number;
  readonly body?: string;
  readonly retryAfter?: string;
  /** Close the connection without answering instead. */
  readonly drop?: boolean;
}

export type StandinBehaviour = (
  body: Record<string, unknown>,
) => { readonly processingMs?: number; readonly fault?: StandinFault } | undefined;

/**
 * The milliseconds the stand-in says it spent (`openai-processing-ms`): a fixed function of the
 * request, so latency comparisons do not depend on how busy the machine is. 20 ms plus 1 ms per
 * 40 characters of the messages, spread from half to one and a half times that by a hash of them
 * (FNV-1a), as a real model's time varies from request to request.
 */
export function reportedProcessingMs(body: Record<string, unknown>): number {
  const text = JSON.stringify(body.messages ?? []);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  const spread = 0.5 + (hash >>> 0) / 4_294_967_296;
  return Math.round((20 + Math.ceil(text.length / 40)) * spread);
}

export interface ModelStandin {
  /** The base URL to configure, with `/v1` (requests go to `{url}/chat/completions`). */
  readonly url: string;
  readonly requests: StandinRequest[];
  /** Answers the next requests with these failures, in order. */
  fail(...faults: StandinFault[]): void;
  /** What the classifier answers instead of its keyword JSON (e.g. garbage), until reset. */
  classifierReply: string | undefined;
  /** Milliseconds each answer waits before it is sent. */
  delayMs: number;
  /**
   * Per request, what to do instead of the default: report another processing time, or fail.
   * Tests build an experiment's slower or failing variant with it, deterministically.
   */
  behaviour: StandinBehaviour | undefined;
  stop(): Promise<void>;
}

function queryOf(messages: readonly { role?: unknown; content?: unknown }[]): string {
  const text = messages.map((m) => String(m.content ?? '')).join('\n');
  const marked = /(?:User Query|Query):\s*(.+)/.exec(text);
  return (marked?.[1] ?? String(messages.at(-1)?.content ?? '')).trim();
}

export function classifyByKeywords(query: string): string[] {
  const lower = query.toLowerCase();
  const found = Object.entries(KEYWORDS)
    .filter(([, words]) => words.some((w) => lower.includes(w)))
    .map(([domain]) => domain);
  return found.length > 0 ? found : ['cost'];
}

function answerFor(body: Record<string, unknown>): string {
  const messages = (Array.isArray(body.messages) ? body.messages : []) as {
    role?: string;
    content?: string;
  }[];
  const query = queryOf(messages);
  const responseFormat = body.response_format as { type?: string } | undefined;
  if (responseFormat?.type === 'json_schema' || responseFormat?.type === 'json_object') {
    return JSON.stringify({
      domains: classifyByKeywords(query),
      confidence: 0.5,
      reasoning: `${STANDIN_LABEL} keywords in the question`,
    });
  }
  const last = String(messages.at(-1)?.content ?? '');
  if (last.includes('Domain Responses')) {
    const domains = [...last.matchAll(/^## (\w+)$/gm)].map((m) => m[1]);
    return `${STANDIN_LABEL} Summary for "${query}" from ${domains.join(', ') || 'no domain'}.`;
  }
  const worker = /You are an? ([a-z ]+?) specialist/i.exec(last)?.[1] ?? 'assistant';
  const noData = /No \w+ data was provided/.test(last);
  return `${STANDIN_LABEL} ${worker} answer to "${query}" (${noData ? 'no data supplied' : 'with data'}).`;
}

const tokens = (text: string) => Math.ceil(text.length / 4);

/** A chat-completions answer to `body` (content given, or the stand-in's own), with usage counted. */
export function standinCompletion(
  body: Record<string, unknown>,
  id: string,
  content: string = answerFor(body),
): Record<string, unknown> {
  const prompt = tokens(JSON.stringify(body.messages ?? []));
  const completion = tokens(content);
  return {
    id,
    object: 'chat.completion',
    created: 0,
    model: STANDIN_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

export async function startModelStandin(
  options: { port?: number; host?: string; apiKey?: string } = {},
): Promise<ModelStandin> {
  const requests: StandinRequest[] = [];
  const faults: StandinFault[] = [];
  const state = {
    classifierReply: undefined as string | undefined,
    delayMs: 0,
    behaviour: undefined as StandinBehaviour | undefined,
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
    };
    if (req.method === 'GET' && req.url === '/v1/models') {
      return send(200, {
        object: 'list',
        data: [{ id: STANDIN_MODEL, object: 'model', owned_by: 'promptops' }],
      });
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      return send(404, { error: { message: `${STANDIN_LABEL} no route ${req.method} ${req.url}` } });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return send(400, { error: { message: `${STANDIN_LABEL} the body is not JSON` } });
    }
    requests.push({ path: req.url, authorization: req.headers.authorization, body });
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return send(401, { error: { message: `${STANDIN_LABEL} invalid API key` } });
    }
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
    const steered = state.behaviour?.(body);
    const fault = faults.shift() ?? steered?.fault;
    if (fault?.drop) {
      req.socket.destroy();
      return;
    }
    if (fault) {
      return send(
        fault.status,
        fault.body ?? { error: { message: `${STANDIN_LABEL} injected ${fault.status}` } },
        {
          ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}),
        },
      );
    }
    const isClassifier = (body.response_format as { type?: string } | undefined)?.type !== undefined;
    const content =
      isClassifier && state.classifierReply !== undefined ? state.classifierReply : answerFor(body);
    const processingMs = steered?.processingMs ?? reportedProcessingMs(body);
    return send(200, standinCompletion(body, `standin-${requests.length}`, content), {
      'openai-processing-ms': String(processingMs),
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/v1`,
    requests,
    fail: (...more) => {
      faults.push(...more);
    },
    get classifierReply() {
      return state.classifierReply;
    },
    set classifierReply(value) {
      state.classifierReply = value;
    },
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value) {
      state.behaviour = value;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value) {
      state.delayMs = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
