import type { Template } from '../prompts/template';
import type { PromptVersion } from '../registry';

/** The `--json` shape of `promptops show`; a stable contract for scripts. */
export function promptVersionJson(prompt: PromptVersion) {
  return {
    name: prompt.name,
    version: prompt.version,
    type: prompt.type,
    template: prompt.template,
    variables: [...prompt.variables],
    tags: prompt.tags,
    aliases: [...prompt.aliases].sort(),
    modelConfig: prompt.modelConfig ?? null,
    responseFormat: prompt.responseFormat ?? null,
    commitMessage: prompt.commitMessage ?? null,
  };
}

/** A template for people: text as is, a chat prompt as `[role]` headed messages. */
export function readableTemplate(template: Template): string {
  return typeof template === 'string'
    ? template
    : template.map((m) => `[${m.role}]\n${m.content}`).join('\n\n');
}

export function describePromptVersion(prompt: PromptVersion): string {
  const lines = [
    `${prompt.uri} (${prompt.type})`,
    `aliases:   ${prompt.aliases.length > 0 ? [...prompt.aliases].sort().join(', ') : '-'}`,
    `variables: ${prompt.variables.length > 0 ? prompt.variables.join(', ') : '-'}`,
    `commit:    ${prompt.commitMessage ?? '-'}`,
  ];
  const tags = Object.entries(prompt.tags);
  if (tags.length > 0) lines.push(`tags:      ${tags.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (prompt.modelConfig) lines.push(`model:     ${JSON.stringify(prompt.modelConfig)}`);
  if (prompt.responseFormat) lines.push(`response:  ${JSON.stringify(prompt.responseFormat)}`);
  return `${lines.join('\n')}\n\n${readableTemplate(prompt.template)}\n`;
}
