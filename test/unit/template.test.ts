import { describe, expect, it } from 'vitest';
import { InvalidInputError, MissingVariablesError, UnsupportedTemplateError } from '../../lib/errors';
import {
  formatTemplate,
  isJinjaTemplate,
  templateVariables,
  validateTemplate,
} from '../../lib/prompts/template';

describe('templateVariables', () => {
  it('finds {{ name }} with or without inner whitespace, sorted and unique', () => {
    expect(templateVariables('Hi {{name}}, {{  place }}; again {{name}}')).toEqual(['name', 'place']);
  });

  it('accepts dotted names and rejects names that are not identifiers', () => {
    expect(templateVariables('{{ user.email }} {{ 9bad }} {{my-var}} {{ a. b }}')).toEqual(['user.email']);
  });

  it('finds the variable inside triple braces, as MLflow does', () => {
    expect(templateVariables('{{{y}}}')).toEqual(['y']);
  });

  it('ignores single braces such as a literal JSON example', () => {
    expect(templateVariables('{"domains": ["cost"]} for {{query}}')).toEqual(['query']);
  });

  it('treats Python whitespace (not JavaScript whitespace) as whitespace inside braces', () => {
    expect(templateVariables('{{\u0085a}} {{\u001cb}} {{\ufeffc}}')).toEqual(['a', 'b']);
  });

  it('searches a chat template as json.dumps text, where a newline inside braces is not whitespace', () => {
    const chat = [
      { role: 'system', content: 'You are {{ persona }}' },
      { role: 'user', content: '{{\nquestion}} {{ q }}' },
    ];
    expect(templateVariables(chat)).toEqual(['persona', 'q']);
  });
});

describe('formatTemplate', () => {
  it('substitutes every occurrence of each variable', () => {
    expect(formatTemplate('{{ a }}+{{a}}={{b}}', { a: '1', b: '2' })).toBe('1+1=2');
  });

  it('inserts values literally, backslashes and $ included', () => {
    expect(formatTemplate('x={{v}}', { v: 'C:\\new $1 $& \\u00e9' })).toBe('x=C:\\new $1 $& \\u00e9');
  });

  it('ignores extra values and leaves single braces alone', () => {
    expect(formatTemplate('{"k": {{v}}}', { v: '1', unused: 'x' })).toBe('{"k": 1}');
  });

  it('fails naming every missing variable, sorted', () => {
    const attempt = () => formatTemplate('{{ b }} {{ a }} {{ c }}', { c: '1' });
    expect(attempt).toThrow(MissingVariablesError);
    try {
      attempt();
    } catch (error) {
      expect((error as MissingVariablesError).missing).toEqual(['a', 'b']);
      expect((error as MissingVariablesError).code).toBe('MISSING_VARIABLES');
      expect((error as Error).message).toContain('a, b');
    }
    expect.assertions(4);
  });

  it('leaves missing variables in place in partial mode', () => {
    expect(formatTemplate('{{ a }} {{ b }}', { a: 'x' }, { partial: true })).toBe('x {{ b }}');
  });

  it('substitutes in key order, so a value may feed a later key (MLflow does the same)', () => {
    expect(formatTemplate('{{a}}', { a: '{{b}}', b: 'B' })).toBe('B');
    expect(formatTemplate('{{a}}', { b: 'B', a: '{{b}}' }, { partial: true })).toBe('{{b}}');
  });

  it("matches a dotted key's dot against any character, as MLflow's unescaped pattern does", () => {
    expect(formatTemplate('{{ a.b }} {{ aXb }}', { 'a.b': '1' }, { partial: true })).toBe('1 1');
  });

  it('formats each chat message and keeps only role and content', () => {
    const chat = [
      { role: 'system', content: 'You are {{ persona }}', name: 'sys' },
      { role: 'user', content: '{{q}}' },
    ];
    expect(formatTemplate(chat, { persona: 'kind', q: 'why?' })).toEqual([
      { role: 'system', content: 'You are kind' },
      { role: 'user', content: 'why?' },
    ]);
  });

  it('refuses to format a Jinja2 template, with a stable code', () => {
    expect(isJinjaTemplate('{% if x %}{{ x }}{% endif %}')).toBe(true);
    expect(isJinjaTemplate('100% {{ x }}')).toBe(false);
    expect(() => formatTemplate('{% if x %}{{ x }}{% endif %}', { x: '1' })).toThrow(
      UnsupportedTemplateError,
    );
    expect(() => formatTemplate([{ role: 'user', content: '{% for a in b %}{% endfor %}' }], {})).toThrow(
      expect.objectContaining({ code: 'TEMPLATE_UNSUPPORTED' }),
    );
  });
});

describe('validateTemplate', () => {
  it('returns a valid text or chat template unchanged', () => {
    const chat = [{ role: 'user', content: '{{ q }}', name: 'u' }];
    expect(validateTemplate('Hi {{ name }}')).toBe('Hi {{ name }}');
    expect(validateTemplate(chat)).toBe(chat);
  });

  it('refuses an empty text, an empty chat, and a message without role or content', () => {
    expect(() => validateTemplate(' \n')).toThrow(/empty/);
    expect(() => validateTemplate([])).toThrow(/at least one message/);
    const noRole = [{ role: '', content: 'x' }];
    expect(() => validateTemplate(noRole)).toThrow(
      expect.objectContaining({ issues: [expect.objectContaining({ path: 'template.0' })] }),
    );
  });

  it("bounds the text MLflow stores, counted in codepoints as Python's len counts", () => {
    expect(validateTemplate('😀'.repeat(100_000))).toHaveLength(200_000);
    expect(() => validateTemplate('x'.repeat(100_001))).toThrow(InvalidInputError);
    // A chat template is stored as json.dumps of its messages, escapes included.
    expect(() => validateTemplate([{ role: 'user', content: 'é'.repeat(20_000) }])).toThrow(
      /characters long/,
    );
  });
});
