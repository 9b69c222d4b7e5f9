/**
 * A deterministic set of prompt files for benchmarks: `gen_000`, `gen_001`, ... Each is the text of
 * a real prompt file (front matter with description, declared variables and tags, then a template
 * of a few hundred characters using 1 to 3 `{{ variables }}`), parsed by the same loader as
 * `prompts/`, so it goes through every check a file in git or an S3 upload would.
 */
import { type PromptFile, parsePromptFile } from '../../lib/prompts/file';

const DOMAINS = ['cost', 'security', 'performance', 'reliability', 'quality', 'lineage', 'governance'];
const VARIABLES = ['query', 'data', 'context', 'history', 'persona'];
const SENTENCES = [
  'Answer with the facts you were given and say plainly when something is missing.',
  'Prefer numbers with units and a time range over adjectives.',
  'List at most five findings, the most important first.',
  'When two sources disagree, name both and say which one you trust more and why.',
  'End with one concrete next step the user can take today.',
  'Keep the answer under two hundred words unless the user asks for more detail.',
  'Never invent a table, job or workspace name that does not appear in the data.',
];

/** The text of generated prompt file number `index` (0-based). */
export function generatedPromptText(index: number): string {
  const name = `gen_${String(index).padStart(3, '0')}`;
  const domain = DOMAINS[index % DOMAINS.length] ?? 'cost';
  const variables = VARIABLES.slice(0, 1 + (index % 3));
  const sentences = [0, 1, 2].map((k) => SENTENCES[(index + k * 3) % SENTENCES.length] ?? '');
  const inputs = variables.map((v) => `${v[0]?.toUpperCase() ?? ''}${v.slice(1)}: {{ ${v} }}`);
  return [
    '---',
    `name: ${name}`,
    `description: Generated benchmark prompt ${index}, a ${domain} specialist.`,
    `variables: [${variables.join(', ')}]`,
    'tags:',
    '  agent: bench',
    `  domain: ${domain}`,
    '---',
    `You are specialist number ${index} for ${domain} questions about a Databricks platform.`,
    '',
    ...sentences,
    '',
    ...inputs,
    '',
  ].join('\n');
}

/** `count` generated prompt files, parsed and validated. */
export function generatedPromptFiles(count: number): PromptFile[] {
  return Array.from({ length: count }, (_, index) =>
    parsePromptFile(`generated/gen_${String(index).padStart(3, '0')}.md`, generatedPromptText(index)),
  );
}
