import { beforeAll, describe, expect, it } from 'vitest';
import { fallbackDomains, parseClassification } from '../../lib/agent/classify';
import { DOMAINS } from '../../lib/agent/domains';
import { loadPromptFiles } from '../../lib/prompts/directory';
import type { JsonObject } from '../../lib/registry';

/** The response format of prompts/intent_classifier.md: domains restricted to the five. */
let strict: JsonObject;
/** The same, with the domains left as free strings. */
let free: JsonObject;

beforeAll(async () => {
  const files = await loadPromptFiles(['prompts']);
  const format = files.find((f) => f.name === 'intent_classifier')?.responseFormat;
  if (format === undefined) throw new Error('prompts/intent_classifier.md has no response_format');
  strict = format;
  const properties = format.properties as JsonObject;
  free = {
    ...format,
    properties: { ...properties, domains: { type: 'array', items: { type: 'string' } } },
  };
});

const answer = (domains: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ domains, confidence: 0.9, reasoning: 'because', ...extra });

describe('parseClassification', () => {
  it('uses a valid answer as is, with its confidence and reasoning', () => {
    expect(parseClassification(answer(['cost', 'security']), strict, [])).toEqual({
      domains: ['cost', 'security'],
      confidence: 0.9,
      reasoning: 'because',
      ignored: [],
      fallback: undefined,
    });
  });

  it('reads an answer wrapped in a ```json fence', () => {
    const fenced = `\`\`\`json\n${answer(['reliability'])}\n\`\`\`\n`;
    expect(parseClassification(fenced, strict, [])).toMatchObject({
      domains: ['reliability'],
      fallback: undefined,
    });
  });

  it('falls back to all five domains when the answer is not JSON', () => {
    const result = parseClassification('I think this is about cost.', strict, []);
    expect(result.domains).toEqual([...DOMAINS]);
    expect(result.fallback).toBe('the classifier did not answer with JSON');
    expect(result.confidence).toBeUndefined();
  });

  it('falls back when the answer does not match the response format, naming the field', () => {
    const result = parseClassification(JSON.stringify({ domains: ['cost'] }), strict, []);
    expect(result.domains).toEqual([...DOMAINS]);
    expect(result.fallback).toMatch(/does not match its response format/);
    expect(result.fallback).toMatch(/confidence/);
  });

  it('falls back when the format restricts domains to the five and the model names another', () => {
    const result = parseClassification(answer(['cost', 'billing']), strict, []);
    expect(result.domains).toEqual([...DOMAINS]);
    expect(result.fallback).toMatch(/does not match its response format \(domains\.1/);
  });

  it('drops unknown domains, listing them, when the format allows free strings', () => {
    expect(parseClassification(answer(['cost', 'billing', ' Security ']), free, [])).toEqual({
      domains: ['cost', 'security'],
      confidence: 0.9,
      reasoning: 'because',
      ignored: ['billing'],
      fallback: undefined,
    });
  });

  it('falls back when no named domain is known', () => {
    const result = parseClassification(answer(['billing', 'weather']), free, []);
    expect(result.domains).toEqual([...DOMAINS]);
    expect(result.ignored).toEqual(['billing', 'weather']);
    expect(result.fallback).toBe('the classifier named no known domain');
  });

  it('falls back to the domains the request has data for, when it has some', () => {
    const result = parseClassification('garbage', strict, ['quality', 'cost']);
    expect(result.domains).toEqual(['quality', 'cost']);
    expect(result.fallback).toBeDefined();
  });

  it("still checks the agent's own shape when the version has no response format", () => {
    const result = parseClassification(JSON.stringify({ domains: 'cost' }), undefined, []);
    expect(result.domains).toEqual([...DOMAINS]);
    expect(result.fallback).toBe("the classifier's answer has no list of domains");
  });

  it('accepts an answer without confidence or reasoning when there is no response format', () => {
    expect(parseClassification(JSON.stringify({ domains: ['performance'] }), undefined, [])).toEqual({
      domains: ['performance'],
      confidence: undefined,
      reasoning: undefined,
      ignored: [],
      fallback: undefined,
    });
  });
});

describe('fallbackDomains', () => {
  it('is the domains with data, else all five', () => {
    expect(fallbackDomains(['security'])).toEqual(['security']);
    expect(fallbackDomains([])).toEqual(['cost', 'security', 'performance', 'reliability', 'quality']);
  });
});
