/**
 * The real local model behind its OpenAI-compatible endpoint (SmolLM2-135M on the CPU), called
 * with OpenAI's own SDK: token usage counts the prompt as the chat template renders it and the
 * answer's tokens, a JSON schema holds by construction, and a prompt that cannot fit is refused
 * with OpenAI's error code. Its answers are not judged: the model is tiny.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalModel } from '../../local/local-model';
import type { OpenAiServer } from '../../local/openai-server';

let server: OpenAiServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startLocalModel({ cacheDir: join(process.cwd(), '.local'), maxTokens: 64 });
  client = new OpenAI({ baseURL: server.url, apiKey: 'unused-locally', maxRetries: 0 });
}, 180_000);
afterAll(async () => {
  await server?.stop();
});

const ask = (content: string, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) =>
  client.chat.completions.create({
    model: server.model,
    messages: [{ role: 'user', content }],
    temperature: 0,
    ...extra,
  });

describe('the local model', () => {
  it('counts the prompt it reads and the tokens it wrote, and stops at max_tokens', async () => {
    const short = await ask('Name one cloud cost.', { max_tokens: 6 });
    const longer = await ask('Name one cloud cost. Name one cloud cost. Name one cloud cost.', {
      max_tokens: 6,
    });
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(6);
    // The same words twice more add the same tokens twice more.
    const added = (longer.usage?.prompt_tokens ?? 0) - (short.usage?.prompt_tokens ?? 0);
    expect(added).toBeGreaterThan(0);
    expect(added % 2).toBe(0);
    expect(short.usage?.total_tokens).toBe((short.usage?.prompt_tokens ?? 0) + 6);
  }, 60_000);

  it('answers JSON that matches the schema it was given', async () => {
    const schema = {
      type: 'object',
      properties: {
        domains: {
          type: 'array',
          maxItems: 5,
          items: { type: 'string', enum: ['cost', 'security', 'quality'] },
        },
        reasoning: { type: 'string', maxLength: 60 },
      },
      required: ['domains', 'reasoning'],
    };
    const answer = await ask('Which domains does "why did our spend rise" touch?', {
      max_tokens: 64,
      response_format: { type: 'json_schema', json_schema: { name: 'intent', schema } },
    });
    const parsed = JSON.parse(answer.choices[0]?.message.content ?? '') as {
      domains: string[];
      reasoning: string;
    };
    for (const domain of parsed.domains) expect(['cost', 'security', 'quality']).toContain(domain);
    expect(parsed.reasoning.length).toBeLessThanOrEqual(60);
  }, 60_000);

  it("refuses a prompt that does not fit its context with OpenAI's error code", async () => {
    const error = await ask('cost '.repeat(5000), { max_tokens: 8 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('context_length_exceeded');
  }, 60_000);
});
