/**
 * Defects the bad-input corpus (test/integration/bad-inputs.test.ts) found, each held here by a
 * test that failed before its fix: a YAML alias bomb that escaped as a plain error, configuration
 * errors that printed a piece of the value they refused or said a set variable was not set, a
 * VERIFY_ALIASES that checked nothing, a secret with two MLflow credentials, an API URL whose
 * password the CLI printed, a malformed guard sent to the API, and what an MLflow server answers
 * with a server error (a page token it did not issue, a prompt name longer than its column).
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withoutValue } from '../../lib/config/env';
import { parsePredictEnv } from '../../lib/config/predict-env';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { ConfigError, InvalidInputError, InvalidPromptFileError, SecretError } from '../../lib/errors';
import { parsePromptFile } from '../../lib/prompts/file';
import { createRegistryClient } from '../../lib/registry';
import { parseRegistrySecret } from '../../lib/secrets/registry-secret';
import { runCli } from '../support/cli';

const SECRET = 'dapi-unit-4f9c2a7e1b3d';

describe('a prompt file whose YAML expands aliases without bound', () => {
  const bomb = [
    '---',
    'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
    'variables: []',
    '---',
    'Hello',
    '',
  ].join('\n');

  it("is refused as the file's own fault (INVALID_PROMPT_FILE), quickly, not thrown as a plain error", () => {
    const started = performance.now();
    const error = (() => {
      try {
        parsePromptFile('prompts/bomb.md', bomb);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(InvalidPromptFileError);
    expect((error as Error).message).toMatch(
      /^prompts\/bomb\.md: invalid YAML in the front matter: .*alias count/,
    );
  });
});

describe('configuration errors show no piece of the value, and say what is wrong', () => {
  const refusal = (parse: () => unknown) => {
    try {
      parse();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return `${(error as Error).message} ${JSON.stringify((error as ConfigError).issues)}`;
    }
    throw new Error('expected a ConfigError');
  };
  const base = { PROMPTOPS_SECRET_ID: 's', PROMOTE_LOCK_TABLE: 'locks' };

  it('hides the version or alias after a pin, and a list item with a space in it', () => {
    for (const pins of [`orchestrator=${SECRET}`, `orchestrator@${SECRET}!`]) {
      const message = refusal(() => parsePredictEnv({ ...base, PREDICT_PROMPT_PINS: pins }));
      expect(message).toContain('PREDICT_PROMPT_PINS');
      expect(message).not.toContain(SECRET);
    }
    const principals = refusal(() =>
      parsePromoteEnv({
        ...base,
        PROTECTED_ALIAS_PRINCIPALS: `arn:aws:iam::123456789012:user/ok, ${SECRET} extra`,
      }),
    );
    expect(principals).toContain('is not an ARN pattern');
    expect(principals).not.toContain(SECRET);
  });

  it('pairs quotes around the value, not with an apostrophe before it, and keeps short fixed words', () => {
    expect(withoutValue(`the agent's list: '${SECRET}' is unknown`, `x=${SECRET}`)).toBe(
      "the agent's list: '(the value given)' is unknown",
    );
    expect(withoutValue("Invalid alias 'a b!': an alias is letters, '_' or '-'.", 'x,a b!,c_d-e')).toBe(
      "Invalid alias '(the value given)': an alias is letters, '_' or '-'.",
    );
    expect(withoutValue('expected one of TRACE, DEBUG', 'DEBUG,TRACE')).toBe('expected one of TRACE, DEBUG');
    // A value full of quotes is not searched pair by pair: cut, quickly.
    const quotes = `'${"a'".repeat(5_000)}`;
    const started = performance.now();
    expect(withoutValue(`bad '${quotes}'`, quotes)).toBe('bad (the value given, not shown)');
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('says a variable set to a word where a number belongs expects a number, not that it is not set', () => {
    const wait = refusal(() => parsePromoteEnv({ ...base, PROMOTE_LOCK_WAIT_MS: 'soon' }));
    expect(wait).toContain('PROMOTE_LOCK_WAIT_MS: expected a number');
    expect(wait).not.toContain('not set');
    expect(refusal(() => parsePromoteEnv({ PROMPTOPS_SECRET_ID: 's' }))).toContain(
      'PROMOTE_LOCK_TABLE: expected string (it is not set)',
    );
  });

  it('refuses a VERIFY_ALIASES of only commas and spaces, which would check nothing', () => {
    expect(refusal(() => parseVerifyEnv({ PROMPTOPS_SECRET_ID: 's', VERIFY_ALIASES: ' , ' }))).toContain(
      'VERIFY_ALIASES: expected alias names',
    );
    expect(parseVerifyEnv({ PROMPTOPS_SECRET_ID: 's', VERIFY_ALIASES: '' }).VERIFY_ALIASES).toEqual([
      'production',
      'staging',
    ]);
  });
});

describe('the registry secret', () => {
  const mlflow = (fields: Record<string, string>) =>
    JSON.stringify({ registry: { type: 'mlflow', trackingUri: 'https://mlflow.example.com', ...fields } });

  it('refuses a token with basic auth (MLflow would ignore the token), naming no value', () => {
    const error = (() => {
      try {
        parseRegistrySecret('s', mlflow({ token: SECRET, username: 'u', password: `pw-${SECRET}` }));
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(SecretError);
    expect(error?.message).toContain('registry.token: set a token, or username and password, not both');
    expect(error?.message).not.toContain(SECRET);
    expect(parseRegistrySecret('s', mlflow({ token: SECRET })).registry).toMatchObject({ token: SECRET });
    expect(parseRegistrySecret('s', mlflow({ username: 'u', password: 'p' })).registry).toMatchObject({
      username: 'u',
    });
  });
});

describe('the CLI', () => {
  it('does not print the password of an --api URL it refuses', async () => {
    const run = await runCli(
      ['prompts', '--api', `http://ops:${SECRET}@api.example.com/`, '--region', 'us-east-1'],
      {},
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--api must be https for a remote API, got http://api.example.com.');
    expect(run.stderr).not.toContain(SECRET);
  });

  it('refuses a malformed --guard before any request, naming it', async () => {
    const run = await runCli(
      [
        'experiment',
        'start',
        'orchestrator',
        '--id',
        'x',
        '--variant',
        'candidate=10%',
        '--guard',
        'error_rate<=lots',
      ],
      {},
    );
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      "promptops: Guardrail 'error_rate<=lots' is not <metric><=|>=<signed number><pp|%>, e.g. error_rate<=+1pp.",
    );
  });
});

describe('an MLflow server: what it would refuse with a 500, refused before the request', () => {
  const ORIGIN = 'http://registry.test:5000';
  let agent: MockAgent;
  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
  });
  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });
  const token = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');

  it('refuses one MLflow did not issue before any request (it answers a JSON list with a 500)', async () => {
    const registry = createRegistryClient({ trackingUri: ORIGIN, dispatcher: agent });
    for (const pageToken of [token([1]), token({ offset: -1 }), token({ offset: 'x' }), token({}), '%%%']) {
      await expect(registry.searchPromptVersions('p', { pageToken })).rejects.toBeInstanceOf(
        InvalidInputError,
      );
      await expect(registry.searchPrompts({ pageToken })).rejects.toThrow(/Invalid page token/);
    }
    expect(registry.requestCount).toBe(0);
  });

  it('refuses a prompt name longer than MLflow stores (256) before creating anything', async () => {
    const registry = createRegistryClient({ trackingUri: ORIGIN, dispatcher: agent });
    await expect(registry.createPrompt({ name: 'n'.repeat(257) })).rejects.toThrow(
      'The prompt name is 257 characters; MLflow stores at most 256.',
    );
    expect(registry.requestCount).toBe(0);
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/2.0/mlflow/registered-models/create', method: 'POST' })
      .reply(200, {
        registered_model: {
          name: 'n'.repeat(256),
          tags: [{ key: 'mlflow.prompt.is_prompt', value: 'true' }],
        },
      });
    await expect(registry.createPrompt({ name: 'n'.repeat(256) })).resolves.toMatchObject({
      name: 'n'.repeat(256),
    });
  });

  it('passes one it issued through unchanged', async () => {
    const registry = createRegistryClient({ trackingUri: ORIGIN, dispatcher: agent });
    const issued = token({ offset: 2 });
    agent
      .get(ORIGIN)
      .intercept({
        path: (path) =>
          path.startsWith('/api/2.0/mlflow/model-versions/search') &&
          path.includes(encodeURIComponent(issued)),
        method: 'GET',
      })
      .reply(200, { model_versions: [] });
    await expect(registry.searchPromptVersions('p', { pageToken: issued })).resolves.toMatchObject({
      items: [],
    });
  });
});
