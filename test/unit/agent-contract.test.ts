import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type AgentContract, agentPrompts, BUILT_IN_CONTRACT, checkContract } from '../../lib/agent/contract';
import { CONTRACT_FILE, parseContract, readContractFile } from '../../lib/agent/contract-file';
import { contractForDirectory } from '../../lib/agent/directory-contract';
import { runAgent } from '../../lib/agent/flow';
import { assertFlowCanRun, FLOW_SUPPLIES } from '../../lib/agent/flow-supplies';
import {
  ConfigError,
  InvalidInputError,
  InvalidPromptFileError,
  MissingVariablesError,
  UnsupportedTemplateError,
} from '../../lib/errors';
import type { ChatModel } from '../../lib/model/chat-model';
import { loadSpecs } from '../../lib/predict/load-specs';
import { assertPassesGate } from '../../lib/promote/gate';
import { promptSnapshotSchema } from '../../lib/prompt-loader/snapshot';
import { loadPromptFiles } from '../../lib/prompts/directory';
import { registryName, shortNameOf } from '../../lib/prompts/naming';
import type { PromptVersion } from '../../lib/registry';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { createTracer } from '../../lib/tracing/recorder';
import { runCli } from '../support/cli';
import { promptVersion } from '../support/prompt-versions';

/** Every template the agent formats, with the values it supplies, while `recording` is on. */
const formatting = vi.hoisted(() => ({
  recording: false,
  calls: [] as { template: unknown; values: Record<string, string> }[],
}));

vi.mock('../../lib/prompts/template', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../lib/prompts/template')>();
  return {
    ...actual,
    formatTemplate: (...args: Parameters<typeof actual.formatTemplate>) => {
      if (formatting.recording) formatting.calls.push({ template: args[0], values: { ...args[1] } });
      return actual.formatTemplate(...args);
    },
  };
});

const scratch = mkdtempSync(join(tmpdir(), 'promptops-contract-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A team's own agent: two prompts, in a prompts directory of its own. */
const TEAM_YAML = [
  '# The release-notes agent.',
  'prompts:',
  '  summariser:',
  '    variables: [document]',
  '  translator:',
  '    variables: [text, language]',
  '',
].join('\n');

function version(name: string, template: string): PromptVersion {
  return promptVersion(name, 3, { template, variables: [] });
}

describe('the agent contract', () => {
  it('is prompts/agent.yaml, covering exactly the prompts in prompts/ with the variables each file declares', async () => {
    expect(BUILT_IN_CONTRACT.prompts).toEqual(readContractFile(join('prompts', CONTRACT_FILE)).prompts);
    expect(BUILT_IN_CONTRACT.source).toBe('prompts/agent.yaml');
    const files = await loadPromptFiles(['prompts']);
    expect(agentPrompts().sort()).toEqual(files.map((f) => f.name).sort());
    for (const file of files) {
      expect([...(BUILT_IN_CONTRACT.prompts[file.name] ?? [])].sort()).toEqual([...file.variables]);
      expect(checkContract(file.name, file.template)).toEqual({ unused: [] });
    }
  });

  it("is what the agent's flow needs: every prompt it formats, with exactly the variables it supplies", async () => {
    // Each prompt's template names it, so the recorded calls say which prompt was formatted.
    const prompts = new Map(
      agentPrompts().map((key) => [
        key,
        { template: `prompt ${key}`, modelConfig: undefined, responseFormat: undefined },
      ]),
    );
    const everyDomain = '{"domains": ["cost", "security", "performance", "reliability", "quality"]}';
    const model: ChatModel = {
      name: 'fake-model',
      baseUrl: 'http://model.test/v1',
      requestCount: 0,
      complete: async (request) => ({
        content: request.messages.at(-1)?.content === 'prompt intent_classifier' ? everyDomain : 'ok',
        model: 'fake-model',
        finishReason: 'stop',
        usage: undefined,
      }),
    };
    const trace = createTracer({ content: DEFAULT_CONTENT_POLICY }).startTrace({
      name: 'agent',
      spanType: 'AGENT',
      inputs: {},
    });
    formatting.calls.length = 0;
    formatting.recording = true;
    try {
      await runAgent(
        prompts,
        {
          query: 'How are we doing?',
          history: [],
          conversationId: undefined,
          userId: undefined,
          data: {},
          domains: undefined,
        },
        { model, trace, maxTokens: 100 },
      );
    } finally {
      formatting.recording = false;
    }
    const supplied = new Map(
      formatting.calls.map((call) => [
        String(call.template).replace('prompt ', ''),
        Object.keys(call.values).sort(),
      ]),
    );
    expect([...supplied.keys()].sort()).toEqual(agentPrompts().sort());
    for (const [key, variables] of supplied) {
      expect(variables, key).toEqual([...(BUILT_IN_CONTRACT.prompts[key] ?? [])].sort());
      // The flow's own declaration, which a contract is checked against at cold start, is true.
      expect(variables, key).toEqual([...(FLOW_SUPPLIES[key] ?? [])].sort());
    }
    expect(Object.keys(FLOW_SUPPLIES).sort()).toEqual([...supplied.keys()].sort());
  });

  it('is refused by the flow when it cannot run with it: a prompt missing, a variable it does not supply', () => {
    expect(() => assertFlowCanRun(BUILT_IN_CONTRACT)).not.toThrow();
    const { synthesizer: _dropped, ...rest } = BUILT_IN_CONTRACT.prompts;
    const edited: AgentContract = {
      source: 'team/agent.yaml',
      prompts: { ...rest, orchestrator: ['context', 'query', 'tone'] },
    };
    expect(() => assertFlowCanRun(edited)).toThrow(ConfigError);
    expect(() => assertFlowCanRun(edited)).toThrow(
      "The agent cannot run with the contract in team/agent.yaml: 'orchestrator' lists tone, which the agent " +
        "does not supply (it supplies context, query); it has no 'synthesizer', which the agent loads.",
    );
  });

  it("fails the predict bundle's build when the flow cannot run with it, and not otherwise", () => {
    const plugins = createRequire(import.meta.url)('../../scripts/esbuild-plugins.cjs') as {
      flowRefusal(root: string): string | undefined;
    };
    expect(plugins.flowRefusal(process.cwd())).toBeUndefined();
    // A checkout whose prompts/agent.yaml lists a variable the flow does not supply.
    const root = join(scratch, 'edited-checkout');
    mkdirSync(join(root, 'prompts'), { recursive: true });
    symlinkSync(join(process.cwd(), 'lib'), join(root, 'lib'));
    symlinkSync(join(process.cwd(), 'node_modules'), join(root, 'node_modules'));
    const yaml = readFileSync(join('prompts', CONTRACT_FILE), 'utf8');
    writeFileSync(
      join(root, 'prompts', CONTRACT_FILE),
      yaml.replace('[context, query]', '[context, query, tone]'),
    );
    expect(plugins.flowRefusal(root)).toBe(
      "The agent cannot run with the contract in prompts/agent.yaml: 'orchestrator' lists tone, which the " +
        'agent does not supply (it supplies context, query).',
    );
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

describe("a team's own contract", () => {
  const team = parseContract('team/agent.yaml', TEAM_YAML);

  it('holds its prompts in order, with their variables', () => {
    expect(team).toEqual({
      source: 'team/agent.yaml',
      prompts: { summariser: ['document'], translator: ['text', 'language'] },
    });
    expect(agentPrompts(team)).toEqual(['summariser', 'translator']);
  });

  it("gates promotion by its own prompts and variables, not the Health Monitor's", () => {
    expect(() =>
      assertPassesGate('summariser', version('summariser', 'Sum up {{ document }}'), team),
    ).not.toThrow();
    expect(() =>
      assertPassesGate(
        'translator',
        version('translator', '{{ text }} in {{ language }} for {{ audience }}'),
        team,
      ),
    ).toThrow(
      /Version 3 of 'translator' needs audience, which the agent does not supply \(it supplies text, language\)/,
    );
    expect(() => assertPassesGate('orchestrator', version('orchestrator', '{{ query }}'), team)).toThrow(
      /'orchestrator' is not one of the agent's prompts \(summariser, translator\)/,
    );
    // The built-in contract knows nothing of the team's prompts.
    expect(() => assertPassesGate('summariser', version('summariser', 'Sum up {{ document }}'))).toThrow(
      InvalidInputError,
    );
  });

  it('decides which prompts are loaded, and refuses pins outside it', () => {
    const alias = 'production';
    expect(loadSpecs({ alias, pins: new Map() }, {}, team).map((spec) => spec.key)).toEqual([
      'summariser',
      'translator',
    ]);
    expect(() => loadSpecs({ alias, pins: new Map([['orchestrator', { version: 2 }]]) }, {}, team)).toThrow(
      /Pins: 'orchestrator' is not one of the agent's prompts \(summariser, translator\)/,
    );
  });

  it('is the one the CLI takes from a prompts directory that has it; the built-in one otherwise', async () => {
    const dir = join(scratch, 'team-prompts');
    mkdirSync(dir);
    writeFileSync(join(dir, CONTRACT_FILE), TEAM_YAML);
    writeFileSync(join(dir, 'summariser.md'), '---\nvariables: [document]\n---\nSum up {{ document }}\n');
    writeFileSync(
      join(dir, 'translator.md'),
      '---\nvariables: [language, text]\n---\n{{ text }} in {{ language }}\n',
    );
    expect(contractForDirectory(dir)).toEqual({ ...team, source: join(dir, CONTRACT_FILE) });
    expect(contractForDirectory(scratch)).toBe(BUILT_IN_CONTRACT);

    const run = await runCli(['snapshot', '--prompts', dir], {});
    expect(run.code).toBe(0);
    const snapshot = promptSnapshotSchema.parse(JSON.parse(run.stdout));
    expect(snapshot.entries.map((e) => e.key)).toEqual(['summariser', 'translator']);
    const pinned = await runCli(['snapshot', '--prompts', dir, '--pins', 'orchestrator=2'], {});
    expect(pinned.code).toBe(2);
    expect(pinned.stderr).toMatch(
      /--pins: 'orchestrator' is not one of the agent's prompts \(summariser, translator\)/,
    );
  });
});

describe('a malformed contract file', () => {
  const refusals: [string, string, RegExp][] = [
    ['invalid YAML', 'prompts:\n  a: [\n', /^team\/agent\.yaml: invalid YAML: /],
    ['no prompts', '{}\n', /^team\/agent\.yaml: invalid agent contract: prompts: /],
    ['an empty list of prompts', 'prompts: {}\n', /prompts: the agent loads at least one prompt/],
    ['an unknown field', 'prompts:\n  a:\n    variables: []\n    vars: [x]\n', /prompts\.a: .*"vars"/],
    [
      'variables not a list',
      'prompts:\n  a:\n    variables: query\n',
      /prompts\.a\.variables: .*expected array/,
    ],
    [
      'a bad variable name',
      'prompts:\n  a:\n    variables: [query, 2nd]\n',
      /prompts\.a\.variables\.1: not a variable name/,
    ],
    [
      'a variable twice',
      'prompts:\n  a:\n    variables: [query, query]\n',
      /prompts\.a\.variables: a variable is listed twice/,
    ],
    [
      'a bad prompt name',
      'prompts:\n  "a/b":\n    variables: []\n',
      /prompts\.a\/b: Invalid prompt name 'a\/b'/,
    ],
    [
      'a prompt twice',
      'prompts:\n  a:\n    variables: []\n  a:\n    variables: []\n',
      /invalid YAML: .*unique/i,
    ],
  ];

  for (const [what, text, message] of refusals) {
    it(`is refused naming the file and the field: ${what}`, () => {
      let error: unknown;
      try {
        parseContract('team/agent.yaml', text);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidPromptFileError);
      expect((error as InvalidPromptFileError).file).toBe('team/agent.yaml');
      expect((error as Error).message).toMatch(message);
      expect((error as Error).cause).toBeDefined();
    });
  }

  it('fails the CLI command that reads it, naming the file and the field', async () => {
    const dir = join(scratch, 'broken');
    mkdirSync(dir);
    writeFileSync(join(dir, CONTRACT_FILE), 'prompts:\n  orchestrator:\n    variables: query\n');
    const run = await runCli(['snapshot', '--prompts', dir], {});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `INVALID_PROMPT_FILE: ${join(dir, CONTRACT_FILE)}: invalid agent contract: prompts.orchestrator.variables:`,
    );
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
