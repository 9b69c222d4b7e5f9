/** A PromptVersion as the registry client answers one, for tests at the loader's and the agent's seams. */
import type { PromptVersion } from '../../lib/registry';

export function promptVersion(
  name: string,
  n: number,
  overrides: Partial<PromptVersion> = {},
): PromptVersion {
  return {
    name,
    version: n,
    type: 'text',
    template: `${name} v${n} {{query}}`,
    variables: ['query'],
    commitMessage: undefined,
    tags: {},
    aliases: [],
    modelConfig: undefined,
    responseFormat: undefined,
    creationTimestamp: 1,
    lastUpdatedTimestamp: 1,
    userId: undefined,
    uri: `prompts:/${name}/${n}`,
    ...overrides,
  };
}
