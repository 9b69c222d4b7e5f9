import { describe, expect, it } from 'vitest';
import { AGENT_CONTRACT, checkContract } from '../../lib/agent/contract';
import { InvalidInputError, MissingVariablesError, UnsupportedTemplateError } from '../../lib/errors';
import { loadPromptFiles } from '../../lib/prompts/directory';
import { registryName, shortNameOf } from '../../lib/prompts/naming';

describe('the agent contract', () => {
  it('covers exactly the prompts in prompts/, with the variables each file declares', async () => {
    const files = await loadPromptFiles(['prompts']);
    expect(Object.keys(AGENT_CONTRACT).sort()).toEqual(files.map((f) => f.name).sort());
    for (const file of files) {
      expect([...AGENT_CONTRACT[file.name as keyof typeof AGENT_CONTRACT]].sort()).toEqual([
        ...file.variables,
      ]);
      expect(checkContract(file.name, file.template)).toEqual({ unused: [] });
    }
  });

  it('accepts a template that uses fewer variables than the agent supplies, and says which', () => {
    expect(checkContract('synthesizer', 'Summarise {{ domain_responses }}')).toEqual({ unused: ['query'] });
  });

  it('refuses a template needing a variable the agent does not supply, naming it', () => {
    expect(() => checkContract('cost_worker', '{{ query }} {{ data }} {{ budget }}')).toThrow(
      MissingVariablesError,
    );
    expect(() => checkContract('cost_worker', '{{ query }} {{ budget }} {{ region }}')).toThrow(
      /budget, region/,
    );
  });

  it('refuses Jinja2 templates and prompts outside the contract', () => {
    expect(() => checkContract('orchestrator', '{% if query %}{{ query }}{% endif %}')).toThrow(
      UnsupportedTemplateError,
    );
    expect(() => checkContract('poet', 'x')).toThrow(InvalidInputError);
  });
});

describe('shortNameOf', () => {
  it('inverts registryName for each naming', () => {
    for (const naming of [{}, { prefix: 'health.' }, { catalog: 'main', schema: 'agent' }]) {
      expect(shortNameOf(registryName('cost_worker', naming), naming)).toBe('cost_worker');
    }
    expect(shortNameOf('other.cost_worker', { prefix: 'health.' })).toBeUndefined();
  });
});
