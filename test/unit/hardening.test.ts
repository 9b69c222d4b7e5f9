/**
 * Defects found by trying the code as an attacker and an operator would (issue 17), each held by
 * a test that failed before its fix: tables read through the prototype, regular expressions that
 * took quadratic time on input, and configuration errors that printed the value they refused.
 */
import { describe, expect, it } from 'vitest';
import { oneLine } from '../../lib/cli/io';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { parseDatabricksCfg } from '../../lib/databricks/config';
import { ConfigError } from '../../lib/errors';
import { errorFromResponse } from '../../lib/registry/failures';
import { runCli } from '../support/cli';

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

  it('does the same for an alias list and a number', () => {
    const aliases = refusal({ PROTECTED_ALIASES: 'production,tok$3cr3t-value' });
    expect(aliases).toContain('PROTECTED_ALIASES');
    expect(aliases).not.toContain('tok$3cr3t-value');
    const wait = refusal({ PROMOTE_LOCK_WAIT_MS: 'sk-live-0000' });
    expect(wait).toContain('PROMOTE_LOCK_WAIT_MS');
    expect(wait).not.toContain('sk-live-0000');
  });
});
