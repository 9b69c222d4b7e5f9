/**
 * Defects found by trying the code as an attacker and an operator would (issue 17), each held by
 * a test that failed before its fix: tables read through the prototype, regular expressions that
 * took quadratic time on input, and configuration errors that printed the value they refused.
 */

import { describe, expect, it } from 'vitest';
import { oneLine, withoutOperation } from '../../lib/cli/io';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { parseDatabricksCfg } from '../../lib/databricks/config';
import { ConfigError, InvalidInputError, NotFoundError } from '../../lib/errors';
import { problemResponse } from '../../lib/http/problem';
import { appendHistory } from '../../lib/promote/history';
import { parsePromptFile } from '../../lib/prompts/file';
import { createRegistryClient } from '../../lib/registry';
import { errorFromResponse } from '../../lib/registry/failures';
import { mayHaveTakenEffect } from '../../lib/registry/write-effect';
import { runCli } from '../support/cli';
import { mockTransport } from '../support/mock-transport';

describe('lookups by own property only', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])(
    "'promptops %s' is an unknown command (exit 2), not Object's",
    async (command) => {
      const run = await runCli([command], {});
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')[0]).toBe(`promptops: unknown command '${command}'.`);
    },
  );

  it("reads an MLflow error_code of 'toString' as no code of ours: the status decides", () => {
    const refused = errorFromResponse('getPrompt', 400, '{"error_code":"toString","message":"no"}');
    expect(refused.code).toBe('INVALID_INPUT');
    expect(refused.message).toBe('getPrompt: toString: no');
    expect(errorFromResponse('getPrompt', 503, '{"error_code":"__proto__"}').code).toBe('UNAVAILABLE');
  });
});

describe('regular expressions on input, in linear time', () => {
  const timed = (work: () => unknown) => {
    const started = performance.now();
    work();
    return performance.now() - started;
  };

  it('puts a message on one line as before, and 100,000 spaces take milliseconds, not seconds', () => {
    expect(oneLine('  a  \n  b\n\n\t c \r\n d  ')).toBe('a b c d');
    expect(oneLine('one line')).toBe('one line');
    expect(timed(() => oneLine(`${' '.repeat(100_000)}x`))).toBeLessThan(100);
    expect(timed(() => oneLine(' \n'.repeat(50_000)))).toBeLessThan(100);
  });

  it('reads ~/.databrickscfg as before, and a 100,000-character line without = quickly', () => {
    const profiles = parseDatabricksCfg('[DEFAULT]\nhost = https://x.cloud.databricks.com\ntoken=abc = d\n');
    expect(profiles.get('DEFAULT')?.get('host')).toBe('https://x.cloud.databricks.com');
    expect(profiles.get('DEFAULT')?.get('token')).toBe('abc = d');
    expect(timed(() => parseDatabricksCfg(`[DEFAULT]\nhost${' '.repeat(100_000)}x\n`))).toBeLessThan(100);
  });
});

describe('configuration errors name the variable, never its value', () => {
  const base = { PROMPTOPS_SECRET_ID: 'promptops/ci/registry', PROMOTE_LOCK_TABLE: 'locks' };
  const refusal = (env: Record<string, string>) => {
    try {
      parsePromoteEnv({ ...base, ...env });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return `${(error as Error).message} ${JSON.stringify((error as ConfigError).issues)}`;
    }
    throw new Error('expected a ConfigError');
  };

  it('says a secret put where an ARN pattern belongs is not one, without printing it', () => {
    const secret = 'sk-live-4f9c2a7e1b3d';
    const message = refusal({ PROTECTED_ALIAS_PRINCIPALS: `arn:aws:iam::123456789012:user/ok,${secret}` });
    expect(message).toContain('PROTECTED_ALIAS_PRINCIPALS');
    expect(message).toContain('is not an ARN pattern');
    expect(message).not.toContain(secret);
    expect(message).not.toContain('sk-live');
  });

  it('does the same for an alias list and a role ARN, and leaves the fixed words of a message alone', () => {
    const aliases = refusal({ PROTECTED_ALIASES: 'production,tok$3cr3t-value' });
    expect(aliases).toContain('PROTECTED_ALIASES');
    expect(aliases).not.toContain('tok$3cr3t-value');
    const role = refusal({ PROTECTED_ALIAS_PRINCIPALS: 'arn:aws:iam::123456789012:role/sk-live-9d8c' });
    expect(role).toContain('names an IAM role');
    expect(role).not.toContain('sk-live-9d8c');
    // An enum's own values are the message, not the value: they stay.
    expect(
      (() => {
        try {
          parsePromoteEnv({ ...base, POWERTOOLS_LOG_LEVEL: 'INFO,DEBUG' });
        } catch (error) {
          return (error as Error).message;
        }
        return '';
      })(),
    ).toContain('expected one of TRACE, DEBUG, INFO');
  });
});

describe("MLflow's column lengths, checked before the first write", () => {
  const transport = mockTransport();
  const long = 'é'.repeat(5_001);

  it('refuses a commit message or a description over 5,000 characters, sending nothing', async () => {
    // No interceptor: any request would fail the test (the agent refuses the network).
    const registry = createRegistryClient({
      trackingUri: 'http://127.0.0.1:5000',
      dispatcher: transport.agent(),
    });
    await expect(registry.registerPrompt({ name: 'p', template: 'x', commitMessage: long })).rejects.toThrow(
      /commit message is 5001 characters; MLflow stores at most 5000/,
    );
    await expect(registry.createPrompt({ name: 'p', description: long })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    expect(registry.requestCount).toBe(0);
  });

  it("refuses a prompt tag over the prompt tag column's 5,000 characters, on set and on creation, sending nothing", async () => {
    const registry = createRegistryClient({
      trackingUri: 'http://127.0.0.1:5000',
      dispatcher: transport.agent(),
    });
    await expect(registry.setPromptTag('p', 'promptops.alias_history.production', long)).rejects.toThrow(
      /prompt tag 'promptops.alias_history.production' is 5001 characters; MLflow stores at most 5000 on a prompt/,
    );
    await expect(registry.createPrompt({ name: 'p', tags: { team: long } })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    expect(registry.requestCount).toBe(0);
  });

  it('keeps the alias and experiment histories within a prompt tag, however long their entries', () => {
    let history: ReturnType<typeof appendHistory> = [];
    for (let i = 1; i <= 60; i += 1) {
      history = appendHistory(history, {
        action: 'promote',
        version: i + 1,
        previousVersion: i,
        by: `arn:aws:sts::123456789012:assumed-role/${'r'.repeat(900)}/x`,
        at: '2026-12-06T00:00:00.000Z',
        reason: '"'.repeat(1_000),
      });
      expect(JSON.stringify(history).length).toBeLessThanOrEqual(5_000);
    }
    expect(history.at(-1)?.version).toBe(61);
  });

  it('refuses a prompt file whose commit_message or description is longer, naming the field', () => {
    const file = (field: string) => `---\nvariables: []\n${field}: "${long}"\n---\nHello\n`;
    expect(() => parsePromptFile('p.md', file('commit_message'))).toThrow(
      /'commit_message': at most 5000 characters/,
    );
    expect(() => parsePromptFile('p.md', file('description'))).toThrow(
      /'description': at most 5000 characters/,
    );
    // 5,000 exactly is fine.
    expect(
      parsePromptFile('p.md', `---\nvariables: []\ncommit_message: "${'é'.repeat(5_000)}"\n---\nHello\n`)
        .commitMessage,
    ).toHaveLength(5_000);
  });
});

describe('the CLI as a new user meets it', () => {
  it("suggests the command meant, and prints that command's usage, not all 35 lines", async () => {
    const run = await runCli(['promot', 'orchestrator'], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "promptops: unknown command 'promot'. Did you mean 'promote'?\nRun 'promptops --help' for every command and flag.\n",
    );
    const wrong = await runCli(['format', 'prompts:/cost_worker/1', '--var', 'nokey'], {});
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.split('\n')).toEqual([
      "promptops: --var expects key=value, got 'nokey'.",
      'usage:',
      '  promptops format <prompt uri> --var key=value [--var key=value ...] [--partial]',
      "Run 'promptops --help' for every command and flag.",
      '',
    ]);
  });

  it('calls a malformed prompt URI wrong usage (exit 2), as a malformed --var is, before any registry', async () => {
    for (const argv of [
      ['show', 'prompts:/a b/1'],
      ['format', 'prompts:/x/notaversion', '--var', 'query=q'],
    ]) {
      const run = await runCli(argv, { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' });
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.stderr.split('\n')[0], argv.join(' ')).toMatch(
        /^promptops: (Invalid prompt name|Not a proper prompts:\/ URI)/,
      );
    }
  });

  it("shows what failed without the client's operation name", () => {
    expect(withoutOperation('resolveAlias: RESOURCE_DOES_NOT_EXIST: no alias')).toBe(
      'RESOURCE_DOES_NOT_EXIST: no alias',
    );
    expect(withoutOperation('The alias is protected: only…')).toBe('The alias is protected: only…');
  });
});

describe('prompt files say where they are wrong', () => {
  it('gives the line and column of a YAML error in the file, on one line', () => {
    expect(() => parsePromptFile('p.md', '---\nvariables: [q]\nname: a\nname: b\n---\nx {{ q }}\n')).toThrow(
      'p.md: invalid YAML in the front matter (line 4, column 1): Map keys must be unique',
    );
    expect(() => parsePromptFile('p.md', '---\nvariables: [q]\n  bad: indent\n---\nx\n')).toThrow(
      /\(line 3, column 1\): All mapping items must start at the same column$/,
    );
  });
});

describe('did you mean, among every flag a command takes', () => {
  it('suggests a shared flag (--region) and a command flag alike', async () => {
    const region = await runCli(['promote', 'orchestrator', '--regon', 'eu-west-1'], {});
    expect(region.stderr.split('\n')[0]).toBe(
      "promptops: unknown flag '--regon' for promote. Did you mean '--region'?",
    );
    const json = await runCli(['history', 'orchestrator', '--jsn'], {});
    expect(json.stderr.split('\n')[0]).toBe(
      "promptops: unknown flag '--jsn' for history. Did you mean '--json'?",
    );
  });
});

describe('API answers read as a caller reads them', () => {
  it("say what failed without the client's operation name in front", () => {
    const missing = new NotFoundError("getPromptVersion: Prompt 'p' has no version 9.", {
      registry: {
        operation: 'getPromptVersion',
        httpStatus: 404,
        mlflowErrorCode: 'RESOURCE_DOES_NOT_EXIST',
      },
    });
    const body = JSON.parse(problemResponse(missing, 'req-1').body as string);
    expect(body).toMatchObject({ status: 404, code: 'NOT_FOUND', detail: "Prompt 'p' has no version 9." });
    // Our own messages are left as they are.
    const ours = JSON.parse(
      problemResponse(new NotFoundError('orchestrator: no such prompt'), 'req-2').body as string,
    );
    expect(ours.detail).toBe('orchestrator: no such prompt');
  });
});

describe('whether a failed write may have taken effect, across its attempts', () => {
  const transport = mockTransport();
  const client = () =>
    createRegistryClient({
      trackingUri: 'http://127.0.0.1:5000',
      dispatcher: transport.agent(),
      retry: { maxAttempts: 2, baseDelayMs: 1 },
      timeoutMs: 200,
    });
  const alias = () =>
    transport
      .agent()
      .get('http://127.0.0.1:5000')
      .intercept({ path: '/api/2.0/mlflow/registered-models/alias', method: 'POST' });

  it('no: every attempt turned away (503, 429) or refused (4xx)', async () => {
    alias().reply(503, 'busy');
    alias().reply(429, 'slow down');
    const error = await client()
      .setAlias('p', 'production', 2)
      .catch((e: unknown) => e);
    expect(mayHaveTakenEffect(error)).toBe(false);
    alias().reply(404, JSON.stringify({ error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no version 2' }));
    expect(
      mayHaveTakenEffect(
        await client()
          .setAlias('p', 'production', 2)
          .catch((e: unknown) => e),
      ),
    ).toBe(false);
  });

  it('yes: an attempt got no answer (a timeout) or a server error, even when the last was turned away', async () => {
    alias().reply(200, '{}').delay(1_000);
    alias().reply(503, 'busy');
    const error = await client()
      .setAlias('p', 'production', 2)
      .catch((e: unknown) => e);
    expect(mayHaveTakenEffect(error)).toBe(true);
    alias().reply(500, 'oops');
    alias().reply(500, 'oops');
    expect(
      mayHaveTakenEffect(
        await client()
          .setAlias('p', 'production', 2)
          .catch((e: unknown) => e),
      ),
    ).toBe(true);
  });
});

describe('a write that collided with a concurrent insert of the same row', () => {
  const transport = mockTransport();
  const setTag = () =>
    transport
      .agent()
      .get('http://127.0.0.1:5000')
      .intercept({ path: '/api/2.0/mlflow/registered-models/set-tag', method: 'POST' });
  const client = () =>
    createRegistryClient({
      trackingUri: 'http://127.0.0.1:5000',
      dispatcher: transport.agent(),
      retry: { baseDelayMs: 1 },
    });

  it('is sent again (the first tag of a prompt, set by several cold starts at once)', async () => {
    setTag().reply(
      400,
      JSON.stringify({
        error_code: 'INVALID_PARAMETER_VALUE',
        message:
          '(sqlite3.IntegrityError) UNIQUE constraint failed: registered_model_tags.key, registered_model_tags.name',
      }),
    );
    setTag().reply(200, '{}');
    const registry = client();
    await registry.setPromptTag('p', '_mlflow_experiment_ids', ',0,');
    expect(registry.requestCount).toBe(2);
  });

  it('but any other 400 is a refusal, not retried', async () => {
    setTag().reply(
      400,
      JSON.stringify({ error_code: 'INVALID_PARAMETER_VALUE', message: 'Invalid tag key' }),
    );
    const registry = client();
    await expect(registry.setPromptTag('p', 'k', 'v')).rejects.toBeInstanceOf(InvalidInputError);
    expect(registry.requestCount).toBe(1);
  });
});
