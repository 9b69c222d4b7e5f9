/**
 * A real small model on this machine's CPU: a GGUF file run by node-llama-cpp from its prebuilt
 * binaries (never a build or a download at run time). One context sequence, so requests are
 * answered one at a time, in arrival order: on a 2-core machine two generations side by side are
 * each slower than both in turn.
 *
 * Threads default to the cores available: node-llama-cpp's default oversubscribes small machines
 * (a 60-token JSON answer took minutes with it here, under two seconds with two threads).
 */
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import {
  type ChatHistoryItem,
  getLlama,
  LlamaChat,
  type LlamaContext,
  type LlamaGrammar,
  LlamaLogLevel,
  type LlamaModel,
} from 'node-llama-cpp';
import type { ModelMessage } from '../lib/model/chat-model';

/** A chat message as the project's model client sends it. */
export type EngineMessage = ModelMessage;

export interface EngineRequest {
  readonly messages: readonly EngineMessage[];
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly stop?: readonly string[];
  /** OpenAI's penalties (0 to 2 there; node-llama-cpp takes 0 to 1): off unless asked for. */
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** A JSON schema the answer must match: it becomes a grammar, so the answer is valid by construction. */
  readonly jsonSchema?: Record<string, unknown>;
  /** Any JSON object (`response_format: {type: "json_object"}`). */
  readonly json?: boolean;
  readonly signal?: AbortSignal;
}

export interface EngineAnswer {
  readonly text: string;
  /** `length` when the answer was cut at `maxTokens`. */
  readonly finishReason: 'stop' | 'length';
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** What the OpenAI-compatible server needs from a model; tests give it a fake. */
export interface ChatEngine {
  readonly name: string;
  /** The threads its context evaluates with, for a model on the CPU. */
  readonly threads?: number;
  complete(request: EngineRequest): Promise<EngineAnswer>;
  close(): Promise<void>;
}

/** A prompt that, with the answer it asks for, does not fit the context: answered with a 400. */
export class ContextLengthError extends Error {
  override readonly name = 'ContextLengthError';
}

/** A schema the grammar builder cannot express: the caller's mistake, answered with a 400. */
export class UnsupportedSchemaError extends Error {
  override readonly name = 'UnsupportedSchemaError';
}

const DEFAULT_CONTEXT_SIZE = 4096;

export interface LlamaEngineOptions {
  readonly modelPath: string;
  /** Default: the cores available. 0: node-llama-cpp's own default (for comparison only). */
  readonly threads?: number;
  /** Tokens of prompt and answer together; the agent's longest prompt with its data fits in 4096. */
  readonly contextSize?: number;
}

function historyOf(messages: readonly EngineMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((message) =>
    message.role === 'system'
      ? { type: 'system', text: message.content }
      : message.role === 'user'
        ? { type: 'user', text: message.content }
        : { type: 'model', response: [message.content] },
  );
  // The model answers into a last, empty response of its own.
  history.push({ type: 'model', response: [] });
  return history;
}

/** Serialises work on the one sequence: each call starts when the previous one settled. */
function queue(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (work) => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };
}

export async function startLlamaEngine(options: LlamaEngineOptions): Promise<ChatEngine> {
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    skipDownload: true,
    logLevel: LlamaLogLevel.error,
  });
  let model: LlamaModel | undefined;
  let context: LlamaContext | undefined;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath });
    const threads = options.threads ?? availableParallelism();
    context = await model.createContext({
      ...(threads > 0 ? { threads } : {}),
      contextSize: options.contextSize ?? DEFAULT_CONTEXT_SIZE,
      sequences: 1,
    });
  } catch (error) {
    await context?.dispose();
    await model?.dispose();
    await llama.dispose();
    throw error;
  }
  const sequence = context.getSequence();
  const { contextSize } = context;
  const chat = new LlamaChat({ contextSequence: sequence });
  const grammars = new Map<string, Promise<LlamaGrammar>>();
  const inTurn = queue();

  const grammarFor = (request: EngineRequest): Promise<LlamaGrammar> | undefined => {
    if (!request.jsonSchema && !request.json) return undefined;
    const key = request.jsonSchema ? JSON.stringify(request.jsonSchema) : 'json';
    let grammar = grammars.get(key);
    if (!grammar) {
      grammar = (
        request.jsonSchema
          ? llama.createGrammarForJsonSchema(request.jsonSchema as never)
          : llama.getGrammarFor('json')
      ).catch((error: unknown) => {
        grammars.delete(key);
        throw new UnsupportedSchemaError(
          `response_format's JSON schema cannot be turned into a grammar: ${(error as Error).message}`,
        );
      });
      grammars.set(key, grammar);
    }
    return grammar;
  };

  return {
    name: basename(options.modelPath).replace(/\.gguf$/i, ''),
    threads: context.currentThreads,
    complete: (request) =>
      inTurn(async () => {
        // Its caller left while it waited its turn: nothing to generate for.
        request.signal?.throwIfAborted();
        const grammar = await grammarFor(request);
        const history = historyOf(request.messages);
        // Usage as OpenAI reports it: the prompt the model reads, as the chat template renders
        // it, and the tokens of the answer. (The sequence's own meter leaves one prompt token
        // out and counts the end-of-generation token in.)
        const { contextText } = chat.chatWrapper.generateContextState({ chatHistory: history });
        const promptTokens = contextText.tokenize(model.tokenizer).length;
        if (promptTokens + request.maxTokens > contextSize) {
          throw new ContextLengthError(
            `the prompt is ${promptTokens} tokens; with max_tokens ${request.maxTokens} it does not fit the local model's context of ${contextSize} tokens`,
          );
        }
        // Each request starts from an empty sequence: nothing of another request's prompt is reused.
        await sequence.clearHistory();
        let completionTokens = 0;
        const answer = await chat.generateResponse(history, {
          maxTokens: request.maxTokens,
          onToken: (tokens) => {
            completionTokens += tokens.length;
          },
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          ...(request.topP === undefined ? {} : { topP: request.topP }),
          ...(request.stop && request.stop.length > 0 ? { customStopTriggers: request.stop } : {}),
          ...(request.frequencyPenalty || request.presencePenalty
            ? {
                repeatPenalty: {
                  frequencyPenalty: Math.min(request.frequencyPenalty ?? 0, 1),
                  presencePenalty: Math.min(request.presencePenalty ?? 0, 1),
                },
              }
            : {}),
          ...(grammar ? { grammar } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
        });
        return {
          text: answer.response,
          finishReason: answer.metadata.stopReason === 'maxTokens' ? 'length' : 'stop',
          promptTokens,
          completionTokens,
        };
      }),
    close: async () => {
      chat.dispose();
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
