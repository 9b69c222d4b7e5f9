import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lib/errors';
import {
  formatPromptUri,
  parsePromptUri,
  validateAliasName,
  validatePromptName,
  validateVersion,
  validateWritableAlias,
} from '../../lib/prompts/names';
import { registryName } from '../../lib/prompts/naming';

describe('parsePromptUri', () => {
  it('parses a version URI and an alias URI; names keep their dots', () => {
    expect(parsePromptUri('prompts:/cat.sch.prompt_x/3')).toEqual({ name: 'cat.sch.prompt_x', version: 3 });
    expect(parsePromptUri('prompts:/cat.sch.prompt_x@production')).toEqual({
      name: 'cat.sch.prompt_x',
      alias: 'production',
    });
  });

  it('reads a bare name as @latest', () => {
    expect(parsePromptUri('summarise')).toEqual({ name: 'summarise', alias: 'latest' });
  });

  it('splits on the last @ and cuts a query string, as Python urlparse does', () => {
    expect(parsePromptUri('prompts:/a.b@prod?x=1')).toEqual({ name: 'a.b', alias: 'prod' });
    expect(() => parsePromptUri('prompts:/a@b@prod')).toThrow(/Invalid prompt name 'a@b'/);
  });

  it('skips an authority the way urlparse does', () => {
    expect(parsePromptUri('prompts://host/p@prod')).toEqual({ name: 'p', alias: 'prod' });
    expect(parsePromptUri('prompts:///p/2')).toEqual({ name: 'p', version: 2 });
  });

  it.each([
    ['prompts:/p/latest', /Not a proper prompts/],
    ['prompts:/p/v1', /Not a proper prompts/],
    ['prompts:/a/b/3', /Not a proper prompts/],
    ['prompts:/', /Not a proper prompts/],
    ['prompts:/p/', /Not a proper prompts/],
    ['prompts:/p@', /Not a proper prompts/],
    ['prompts:/p', /give a version/],
    ['prompts:/p/0', /positive integer/],
    ['bad name!', /Invalid prompt name/],
    ['a/b', /Invalid prompt name/],
    ['', /non-empty/],
  ])('refuses %s', (uri, message) => {
    expect(() => parsePromptUri(uri)).toThrow(InvalidInputError);
    expect(() => parsePromptUri(uri)).toThrow(message);
  });

  it('formats URIs back', () => {
    expect(formatPromptUri({ name: 'p', version: 2 })).toBe('prompts:/p/2');
    expect(formatPromptUri({ name: 'p', alias: 'staging' })).toBe('prompts:/p@staging');
  });
});

describe('names, aliases, versions', () => {
  it("follows MLflow's prompt name rule", () => {
    expect(validatePromptName('a.b-c_1')).toBe('a.b-c_1');
    for (const bad of ['a b', 'a:b', 'a/b', 'a@b', 'é'])
      expect(() => validatePromptName(bad)).toThrow(InvalidInputError);
  });

  it('reserves latest (any case) and v<digits> for writes only', () => {
    expect(validateAliasName('latest')).toBe('latest');
    expect(() => validateWritableAlias('LaTeSt')).toThrow(/reserved/);
    expect(() => validateWritableAlias('v12')).toThrow(/reserved/);
    expect(validateWritableAlias('v1beta')).toBe('v1beta');
    expect(validateWritableAlias('prod-2_b')).toBe('prod-2_b');
  });

  it('refuses alias names outside [\\w-] or longer than 255', () => {
    expect(() => validateAliasName('a b')).toThrow(InvalidInputError);
    expect(() => validateAliasName('x'.repeat(256))).toThrow(InvalidInputError);
    expect(() => validateAliasName('')).toThrow(InvalidInputError);
  });

  it('accepts positive integer versions only', () => {
    expect(validateVersion('7')).toBe(7);
    for (const bad of [0, -1, 1.5, '1.0', 'abc', ' 1'])
      expect(() => validateVersion(bad)).toThrow(InvalidInputError);
  });
});

describe('registryName', () => {
  it("produces the seed's Unity Catalog form when catalog and schema are set", () => {
    expect(registryName('orchestrator', { catalog: 'main', schema: 'agent' })).toBe(
      'main.agent.prompt_orchestrator',
    );
  });

  it('uses the short name (with an optional prefix) otherwise', () => {
    expect(registryName('orchestrator')).toBe('orchestrator');
    expect(registryName('orchestrator', { prefix: 'health.' })).toBe('health.orchestrator');
  });

  it('refuses half a Unity Catalog location and invalid parts', () => {
    expect(() => registryName('x', { catalog: 'main' })).toThrow(/both/);
    expect(() => registryName('x', { catalog: 'ma in', schema: 's' })).toThrow(/catalog/);
  });
});
