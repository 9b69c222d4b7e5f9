import { describe, expect, it } from 'vitest';
import { InvalidPromptFileError } from '../../lib/errors';
import { loadPromptFiles } from '../../lib/prompts/directory';
import { MAX_PROMPT_FILE_BYTES, parsePromptFile } from '../../lib/prompts/file';
import { formatTemplate, templateVariables } from '../../lib/prompts/template';

const SEED_PROMPTS = [
  'cost_worker',
  'intent_classifier',
  'orchestrator',
  'performance_worker',
  'quality_worker',
  'reliability_worker',
  'security_worker',
  'synthesizer',
];

describe('the eight Health Monitor prompts in prompts/', () => {
  it('are all there and all valid', async () => {
    const prompts = await loadPromptFiles(['prompts']);
    expect(prompts.map((p) => p.name)).toEqual(SEED_PROMPTS);
  });

  it('declare exactly the variables their templates use, and format with them', async () => {
    for (const prompt of await loadPromptFiles(['prompts'])) {
      expect(templateVariables(prompt.template)).toEqual([...prompt.variables]);
      const values = Object.fromEntries(prompt.variables.map((v) => [v, `<${v}>`]));
      const text = formatTemplate(prompt.template, values);
      expect(typeof text).toBe('string');
      for (const v of prompt.variables) expect(text).toContain(`<${v}>`);
      expect(text).not.toMatch(/\{\{|\}\}/);
    }
  });

  it("use MLflow syntax, not the seed's str.format placeholders", async () => {
    for (const prompt of await loadPromptFiles(['prompts'])) {
      expect(prompt.template).not.toMatch(/(?<!\{)\{(query|context|data|domain_responses)\}(?!\})/);
    }
  });

  it("keep the intent classifier's JSON example a literal JSON object", async () => {
    const [classifier] = await loadPromptFiles(['prompts/intent_classifier.md']);
    const text = formatTemplate(classifier?.template ?? '', { query: 'why so costly?' }) as string;
    const example = text.split('\n').pop() ?? '';
    expect(JSON.parse(example)).toEqual({
      domains: ['domain1', 'domain2'],
      confidence: 0.95,
      reasoning: '...',
    });
    expect(classifier?.responseFormat).toMatchObject({
      type: 'object',
      required: ['domains', 'confidence', 'reasoning'],
    });
  });
});

const file = (front: string, body = 'Hello {{ name }}\n') => `---\n${front}\n---\n${body}`;

describe('parsePromptFile', () => {
  it('reads a text prompt: name from the file, body without its final newline, CRLF normalised', () => {
    const crlf = file('variables: [name]\ntags: {team: a}').replace(/\n/g, '\r\n');
    const prompt = parsePromptFile('dir/greeter.md', crlf);
    expect(prompt).toMatchObject({
      name: 'greeter',
      template: 'Hello {{ name }}',
      tags: { team: 'a' },
      variables: ['name'],
    });
  });

  it('reads a chat prompt from messages', () => {
    const prompt = parsePromptFile(
      'c.md',
      file(
        'variables: [q]\nmessages:\n  - role: system\n    content: Be brief.\n  - role: user\n    content: "{{ q }}"',
        '',
      ),
    );
    expect(prompt.template).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: '{{ q }}' },
    ]);
  });

  it.each([
    ['no front matter', 'Hello', /no front matter/],
    ['invalid YAML', file('variables: [name\n'), /invalid YAML/],
    ['unknown fields', file('variables: [name]\ntemprature: 1'), /unknown field\(s\) 'temprature'/],
    ['missing variables list', file('description: x'), /'variables'/],
    ['empty template', file('variables: []', '\n  \n'), /empty/],
    ['undeclared variable', file('variables: []'), /undeclared variable\(s\) name/],
    ['declared but unused variable', file('variables: [name, extra]'), /extra do not appear/],
    ['message without role', file('variables: []\nmessages:\n  - content: hi', ''), /role/],
    ['message without content', file('variables: []\nmessages:\n  - role: user', ''), /content/],
    [
      'chat with a body too',
      file('variables: [name]\nmessages:\n  - {role: user, content: "{{name}}"}'),
      /body/,
    ],
    ['invalid name', file('name: bad name\nvariables: [name]'), /Invalid prompt name/],
    ['non-string tag', file('variables: [name]\ntags: {n: 1}'), /tags/],
    ['reserved tag', file('variables: [name]\ntags: {mlflow.prompt.text: x}'), /reserved/],
    ['too long', file('variables: []', `${'x'.repeat(100_001)}\n`), /100000/],
    ['Jinja2', file('variables: [name]', '{% if name %}{{ name }}{% endif %}'), /Jinja2/],
    ['duplicate YAML key', file('variables: [name]\nvariables: [name]'), /invalid YAML/],
    [
      'an invalid model config',
      file('variables: [name]\nmodel_config: {temperature: -1}'),
      /modelConfig.temperature/,
    ],
    [
      'a NaN in the response format',
      file('variables: [name]\nresponse_format: {x: .nan}'),
      /response_format|NaN|JSON/,
    ],
    [
      "the project's own tags",
      file('variables: [name]\ntags: {promptops.content_hash: x}'),
      /reserved: 'promptops/,
    ],
    [
      "the project's own tags as Unity Catalog spells them",
      file('variables: [name]\ntags: {promptops_moved_to_production: x}'),
      /promptops_moved_to_production are reserved/,
    ],
  ])('refuses %s, naming the file', (_label, content, message) => {
    expect(() => parsePromptFile('prompts/p.md', content)).toThrow(InvalidPromptFileError);
    expect(() => parsePromptFile('prompts/p.md', content)).toThrow(message);
    expect(() => parsePromptFile('prompts/p.md', content)).toThrow(/^prompts\/p\.md: /);
  });

  it('refuses bytes that are not UTF-8', () => {
    const bytes = Buffer.concat([Buffer.from(file('variables: []', 'caf')), Buffer.from([0xe9, 0x0a])]);
    expect(() => parsePromptFile('p.md', bytes)).toThrow(/not valid UTF-8/);
  });

  it('refuses a file over the size cap before parsing it', () => {
    expect(() => parsePromptFile('p.md', Buffer.alloc(MAX_PROMPT_FILE_BYTES + 1, 0x61))).toThrow(
      /limited to/,
    );
  });
});

describe('loadPromptFiles', () => {
  it('fails on a path that does not exist', async () => {
    await expect(loadPromptFiles(['nope/'])).rejects.toThrow(/no such file/);
  });
});
