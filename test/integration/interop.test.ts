/**
 * Interop with MLflow's own Python SDK, both ways, on the same real server: what this client
 * writes, `mlflow.genai.load_prompt` reads with the same template, variables and `format()`
 * output, and the stored tags are byte-identical to what the SDK itself writes for the same input;
 * what the SDK writes, this client reads identically.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MissingVariablesError, UnsupportedTemplateError } from '../../lib/errors';
import {
  type ChatMessage,
  formatTemplate,
  isJinjaTemplate,
  templateVariables,
} from '../../lib/prompts/template';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { expectSameAsPython, type InteropCase, type PythonPrompt, sdkInput } from '../support/interop';
import { uniqueName } from '../support/names';
import { type Oracle, OracleError, startOracle } from '../support/oracle';

interface RawVersion {
  tags: Record<string, string>;
  description: string | null;
  source: string;
}

const longText = `${'Lorem ipsum dolor sit amet {{ topic }}. '.repeat(2400)}End.`;

const CASES: readonly InteropCase[] = [
  {
    label: 'text',
    template: 'Summarise {{ text }} for {{audience}}.',
    values: { text: 'T', audience: 'ops' },
  },
  {
    label: 'chat',
    template: [
      { role: 'system', content: 'You are {{ persona }}.' },
      { role: 'user', content: 'Question: {{question}}' },
    ],
    values: { persona: 'terse', question: 'why?' },
  },
  {
    label: 'metadata',
    template: 'Classify {{ query }} as JSON: {"domains": ["cost"]}',
    values: { query: 'q' },
    commitMessage: 'with everything',
    tags: { team: 'platform', 'owner.email': 'ml@example.com' },
    modelConfig: {
      model_name: 'gpt-x',
      temperature: 1,
      max_tokens: 256,
      top_p: 0.9,
      stop_sequences: ['\n'],
      seed: 7,
    },
    responseFormat: { type: 'object', properties: { domains: { type: 'array', items: { type: 'string' } } } },
  },
  {
    label: 'unicode',
    template: [{ role: 'user', content: 'Héllo {{ name }} ✓ 😀 — “quoted” \\ backslash\ttab' }],
    values: { name: 'Zoë 🚀' },
    tags: { note: 'ünïcode ✓' },
  },
  {
    label: 'dotted and spaced',
    template: '{{user.email}} / {{   user.name\n}} / {{{x}}}',
    values: { 'user.email': 'e', 'user.name': 'n', x: '1' },
  },
  { label: 'long', template: longText, values: { topic: 'x' } },
];

const uri = inject('mlflowUri');
let registry: RegistryClient;
let oracle: Oracle;

beforeAll(() => {
  registry = createRegistryClient({ trackingUri: uri });
  oracle = startOracle(uri);
});
afterAll(() => oracle.close());

describe('this client writes, MLflow Python reads', () => {
  it.each(CASES)('$label', async (c) => {
    const ours = uniqueName(`ts-${c.label.replace(/\W/g, '')}`);
    const theirs = uniqueName(`py-${c.label.replace(/\W/g, '')}`);
    const input = {
      template: c.template,
      commitMessage: c.commitMessage,
      tags: c.tags,
      modelConfig: c.modelConfig,
      responseFormat: c.responseFormat,
    };
    const written = await registry.registerPrompt({ name: ours, ...input });
    await registry.setAlias(ours, 'production', written.version);

    const python = await oracle.call<PythonPrompt>('load', { uri: `prompts:/${ours}@production` });
    expect(python.template).toEqual(c.template);
    expectSameAsPython({ ...written, aliases: ['production'] }, python);
    expect(await oracle.call('format', { uri: `prompts:/${ours}/1`, values: c.values })).toEqual(
      formatTemplate(c.template, c.values),
    );

    // The stored version is byte-identical to what the SDK stores for the same input.
    await oracle.call('register', { name: theirs, ...sdkInput(c) });
    const [rawOurs, rawTheirs] = await Promise.all([
      oracle.call<RawVersion>('raw_version', { name: ours, version: 1 }),
      oracle.call<RawVersion>('raw_version', { name: theirs, version: 1 }),
    ]);
    expect(rawOurs).toEqual(rawTheirs);
  });
});

describe('MLflow Python writes, this client reads', () => {
  it.each(CASES)('$label', async (c) => {
    const name = uniqueName(`py2ts-${c.label.replace(/\W/g, '')}`);
    await oracle.call('register', { name, ...sdkInput(c) });
    await oracle.call('set_alias', { name, alias: 'staging', version: 1 });
    const python = await oracle.call<PythonPrompt>('load', { uri: `prompts:/${name}@staging` });
    const ours = await registry.loadPrompt(`prompts:/${name}@staging`);
    expectSameAsPython(ours, python);
    expect(formatTemplate(ours.template, c.values)).toEqual(
      await oracle.call('format', { uri: `prompts:/${name}@staging`, values: c.values }),
    );
  });

  it('finds the same prompts with the same filter', async () => {
    const prefix = uniqueName('search');
    await oracle.call('register', { name: `${prefix}.a`, template: 'a' });
    await registry.registerPrompt({ name: `${prefix}.b`, template: 'b' });
    const filter = `name LIKE '${prefix}.%'`;
    const ours = (await registry.searchPrompts({ filter })).items.map((p) => p.name);
    expect(ours).toEqual(await oracle.call('search_prompts', { filter }));
    expect(ours).toHaveLength(2);
  });
});

// A small deterministic generator: templates made of the pieces that matter to the regex.
function* generatedTemplates(count: number): Generator<string> {
  const pieces = [
    '{{',
    '}}',
    '{',
    '}',
    ' ',
    '\n',
    '\t',
    '\u00a0',
    '\u0085',
    'a',
    'b1',
    '_x',
    '.',
    'é',
    '9',
    '-',
    '%',
  ];
  let seed = 20261124;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  for (let i = 0; i < count; i += 1) {
    const length = 3 + (next() % 12);
    let text = '';
    for (let j = 0; j < length; j += 1) text += pieces[next() % pieces.length];
    yield text;
  }
}

describe('template semantics match MLflow (no server involved)', () => {
  const templates = [...generatedTemplates(400)];

  it('finds the same variables in 400 generated text templates', async () => {
    const mismatches: unknown[] = [];
    for (const template of templates) {
      const python = await oracle.call<string[]>('local_variables', { template });
      if (JSON.stringify(python) !== JSON.stringify(templateVariables(template))) {
        mismatches.push({ template, python, ours: templateVariables(template) });
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('finds the same variables when the same pieces are chat message contents', async () => {
    const mismatches: unknown[] = [];
    for (const content of templates.slice(0, 150)) {
      const template: ChatMessage[] = [{ role: 'user', content }];
      const python = await oracle.call<string[]>('local_variables', { template });
      if (JSON.stringify(python) !== JSON.stringify(templateVariables(template))) {
        mismatches.push({ content, python, ours: templateVariables(template) });
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('formats generated templates identically, and fails on the same missing variables', async () => {
    const mismatches: unknown[] = [];
    let missingCases = 0;
    let jinjaCases = 0;
    for (const [index, template] of templates.entries()) {
      const variables = templateVariables(template);
      // Every other template leaves its last variable out.
      const given = index % 2 === 0 ? variables : variables.slice(0, -1);
      const values = Object.fromEntries(given.map((v, i) => [v, `<${i}\\${v}>`]));
      const python = await oracle.call('local_format', { template, values }).catch((e: unknown) => e);
      let ours: unknown;
      try {
        ours = formatTemplate(template, values);
      } catch (error) {
        ours = error;
      }
      if (isJinjaTemplate(template)) {
        // Decided: Jinja2 templates are refused here rather than rendered differently.
        jinjaCases += 1;
        if (!(ours instanceof UnsupportedTemplateError)) mismatches.push({ template, ours });
      } else if (ours instanceof MissingVariablesError) {
        missingCases += 1;
        if (!(python instanceof OracleError && python.errorCode === 'INVALID_PARAMETER_VALUE')) {
          mismatches.push({ template, python, ours: ours.message });
        }
      } else if (JSON.stringify(python) !== JSON.stringify(ours)) {
        mismatches.push({ template, python, ours });
      }
    }
    expect(mismatches).toEqual([]);
    expect(missingCases).toBeGreaterThan(0);
    expect(jinjaCases).toBeGreaterThan(0);
  });

  it('partially formats like allow_partial=True', async () => {
    const template = '{{ a }} and {{ b }} and {{a}}';
    expect(await oracle.call('local_format', { template, values: { a: 'A' }, partial: true })).toBe(
      formatTemplate(template, { a: 'A' }, { partial: true }),
    );
  });

  it('serialises values as json.dumps does', async () => {
    const value = [
      { role: 'user', content: 'Héllo\n"x"\\ 😀 \u0001' },
      { nested: { k: [1, 2.5, true, null] } },
    ];
    expect(await oracle.call('dumps', { value })).toBe(
      (await import('../../lib/util/python-json')).pythonJsonDumps(value),
    );
  });
});
