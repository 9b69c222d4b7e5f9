/** The agent's eight prompts (prompts/) registered under a naming of the test's own. */
import { randomUUID } from 'node:crypto';
import { loadPromptFiles } from '../../lib/prompts/directory';
import type { PromptFile } from '../../lib/prompts/file';
import type { NamingOptions } from '../../lib/prompts/naming';
import { registerPromptFile } from '../../lib/register/register-prompt-file';
import type { RegistryClient } from '../../lib/registry';

/** A prefix no other test uses, so tests share one server without seeing each other's prompts. */
export function uniqueNaming(label: string): NamingOptions {
  return { prefix: `it.${label}.${randomUUID().slice(0, 8)}.` };
}

export function agentPromptFiles(): Promise<PromptFile[]> {
  return loadPromptFiles(['prompts']);
}

/** Registers every file in prompts/ (version 1, staging and production on it); registry names by short name. */
export async function registerAgentPrompts(
  registry: RegistryClient,
  naming: NamingOptions,
): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const file of await agentPromptFiles()) {
    const outcome = await registerPromptFile(registry, file, { naming });
    names.set(file.name, outcome.name);
  }
  return names;
}
