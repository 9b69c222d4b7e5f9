/**
 * The span attributes MLflow's tracking server reads from OTLP (measured on the pinned server; see
 * README, "Traces"), and how content (questions, data, answers) goes into them: as JSON, capped in
 * size with a visible marker, or not at all when the deployment may not store it in MLflow.
 */
import { pythonJsonDumps } from '../util/python-json';

export const ATTR = {
  spanType: 'mlflow.spanType',
  inputs: 'mlflow.spanInputs',
  outputs: 'mlflow.spanOutputs',
  tokenUsage: 'mlflow.chat.tokenUsage',
  model: 'mlflow.llm.model',
  provider: 'mlflow.llm.provider',
  linkedPrompts: 'mlflow.linkedPrompts',
  session: 'session.id',
  user: 'user.id',
} as const;

/** A root-span attribute with this prefix becomes the trace tag named by the rest. */
export const TRACE_TAG_PREFIX = 'mlflow.traceTag.';

export type SpanType = 'AGENT' | 'CHAIN' | 'CHAT_MODEL' | 'LLM' | 'PARSER' | 'RETRIEVER' | 'TOOL' | 'UNKNOWN';

export interface ContentPolicy {
  /** `full`: inputs and outputs as JSON; `metadata`: their size only, never their content. */
  readonly mode: 'full' | 'metadata';
  /** The longest JSON kept per attribute; longer content is cut and marked. */
  readonly maxChars: number;
}

export const DEFAULT_CONTENT_POLICY: ContentPolicy = { mode: 'full', maxChars: 16_000 };

/**
 * The attribute value for span content: JSON (MLflow unwraps a JSON string), cut to
 * `policy.maxChars` with a marker saying how long it was, or in `metadata` mode only its size.
 */
export function contentAttribute(value: unknown, policy: ContentPolicy): string {
  const text = JSON.stringify(value ?? null);
  if (policy.mode === 'metadata') {
    return JSON.stringify({ omitted: 'content not recorded (metadata only)', chars: text.length });
  }
  if (text.length <= policy.maxChars) return text;
  // The cut JSON is kept as a string, whose own quoting lengthens it: cut until the whole fits.
  const marker = `… [truncated: ${text.length} characters in all]`;
  let keep = policy.maxChars;
  for (;;) {
    const out = JSON.stringify(`${text.slice(0, keep)}${marker}`);
    if (out.length <= policy.maxChars || keep === 0) return out;
    keep = Math.max(0, keep - (out.length - policy.maxChars));
  }
}

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly totalTokens: number;
}

/** MLflow's token-usage attribute: summed into the trace's token usage by the server. */
export function tokenUsageAttribute(usage: TokenUsage): string {
  return JSON.stringify({
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    total_tokens: usage.totalTokens,
  });
}

/** The `mlflow.linkedPrompts` value exactly as MLflow's Python SDK writes it (`json.dumps`). */
export function linkedPromptsValue(versions: readonly { name: string; version: number }[]): string {
  return pythonJsonDumps(versions.map((v) => ({ name: v.name, version: String(v.version) })));
}
