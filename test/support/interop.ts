/**
 * What the interop tests share, on either registry: a prompt as MLflow's Python SDK describes it
 * (test/support/oracle.py `describe`), the case a test writes both ways, the register arguments
 * the SDK is given for it, and the comparison of our version with the SDK's.
 */
import { expect } from 'vitest';
import type { Template } from '../../lib/prompts/template';
import type { JsonObject, PromptVersion } from '../../lib/registry';

export interface PythonPrompt {
  name: string;
  version: number;
  template: Template;
  variables: string[];
  tags: Record<string, string>;
  aliases: string[];
  commit_message: string | null;
  model_config: Record<string, unknown> | null;
  response_format: Record<string, unknown> | null;
}

export interface InteropCase {
  readonly label: string;
  readonly template: Template;
  readonly values: Record<string, string>;
  readonly commitMessage?: string;
  readonly tags?: Record<string, string>;
  readonly modelConfig?: Record<string, unknown>;
  readonly responseFormat?: JsonObject;
}

/** The oracle's `register` arguments for a case (the name aside). */
export const sdkInput = (c: InteropCase) => ({
  template: c.template,
  commit_message: c.commitMessage ?? null,
  tags: c.tags ?? null,
  model_config: c.modelConfig ?? null,
  response_format: c.responseFormat ?? null,
});

export function expectSameAsPython(ours: PromptVersion, python: PythonPrompt): void {
  expect(ours.name).toBe(python.name);
  expect(ours.version).toBe(python.version);
  expect(ours.template).toEqual(python.template);
  expect(ours.variables).toEqual(python.variables);
  expect(ours.tags).toEqual(python.tags);
  expect(ours.commitMessage ?? null).toBe(python.commit_message);
  expect(ours.modelConfig ?? null).toEqual(python.model_config);
  expect(ours.responseFormat ?? null).toEqual(python.response_format);
  expect([...ours.aliases].sort()).toEqual(python.aliases);
}
