/**
 * The promote API's guards without a server: who the caller is (only the authorizer's context
 * counts), who may move a protected alias (ARN patterns), the alias lock's protocol with
 * DynamoDB (faked at the SDK's transport seam), and the request schemas.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import {
  ConfigError,
  ForbiddenError,
  MoveInProgressError,
  UnauthorizedError,
  UnavailableError,
} from '../../lib/errors';
import { principalOf } from '../../lib/http/principal';
import { createDynamoAliasLock } from '../../lib/promote/alias-lock';
import { promoteBodySchema, rollbackBodySchema } from '../../lib/promote/api';
import { assertMayMove, isProtected } from '../../lib/promote/authorize';

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

describe('principalOf', () => {
  const withArn = (userArn: unknown) => ({ requestContext: { authorizer: { iam: { userArn } } } });

  it('returns the ARN the IAM authorizer put in the request context', () => {
    expect(principalOf(withArn('arn:aws:sts::123456789012:assumed-role/ci/run-7'))).toBe(
      'arn:aws:sts::123456789012:assumed-role/ci/run-7',
    );
    expect(principalOf(withArn('arn:aws-us-gov:iam::123456789012:user/ops'))).toBe(
      'arn:aws-us-gov:iam::123456789012:user/ops',
    );
  });

  it.each([
    ['no request context', {}],
    ['no authorizer', { requestContext: {} }],
    ['a JWT authorizer instead', { requestContext: { authorizer: { jwt: { claims: { sub: 'x' } } } } }],
    ['an empty ARN', withArn('')],
    ['something not an ARN', withArn('alice')],
    ['a non-string', withArn(42)],
    [
      'only the offline override header',
      {
        headers: {
          'sls-offline-authorizer-override': '{"iam":{"userArn":"arn:aws:iam::123456789012:user/a"}}',
        },
      },
    ],
  ])('refuses %s with 401', (_label, event) => {
    expect(() => principalOf(event)).toThrow(UnauthorizedError);
  });
});

describe('assertMayMove', () => {
  const policy = {
    protectedAliases: ['production', 'prod-eu'],
    allowedPrincipals: [
      'arn:aws:sts::123456789012:assumed-role/release-*/*',
      'arn:aws:iam::123456789012:user/oncall?',
    ],
  };

  it('lets anyone move an unprotected alias', () => {
    expect(() => assertMayMove(policy, 'staging', 'arn:aws:iam::999999999999:user/x')).not.toThrow();
  });

  it('matches ARN patterns with * and ?, anchored at both ends', () => {
    expect(() =>
      assertMayMove(policy, 'production', 'arn:aws:sts::123456789012:assumed-role/release-ci/run-1'),
    ).not.toThrow();
    expect(() => assertMayMove(policy, 'prod-eu', 'arn:aws:iam::123456789012:user/oncall1')).not.toThrow();
    for (const outsider of [
      'arn:aws:iam::123456789012:user/oncall12',
      'arn:aws:sts::123456789012:assumed-role/dev/run-1',
      'xarn:aws:sts::123456789012:assumed-role/release-ci/run-1',
    ]) {
      expect(() => assertMayMove(policy, 'production', outsider)).toThrow(ForbiddenError);
    }
  });

  it('treats pattern characters other than * and ? literally', () => {
    const dotted = {
      protectedAliases: ['production'],
      allowedPrincipals: ['arn:aws:iam::123456789012:user/a.b'],
    };
    expect(() => assertMayMove(dotted, 'production', 'arn:aws:iam::123456789012:user/aXb')).toThrow(
      ForbiddenError,
    );
  });

  it('protects an alias whatever its case', () => {
    expect(() => assertMayMove(policy, 'PRODUCTION', 'arn:aws:iam::123456789012:user/x')).toThrow(
      ForbiddenError,
    );
    expect(isProtected(policy, 'Prod-EU')).toBe(true);
    expect(isProtected(policy, 'staging')).toBe(false);
  });

  it('refuses at cold start principal patterns that cannot match a caller, and an empty alias list', () => {
    const base = { PROMPTOPS_SECRET_ID: 's', PROMOTE_LOCK_TABLE: 'locks' };
    expect(() =>
      parsePromoteEnv({ ...base, PROTECTED_ALIAS_PRINCIPALS: 'arn:aws:iam::123456789012:role/release' }),
    ).toThrow(/names an IAM role, which never calls as itself: use 'arn:aws:sts::<account>:assumed-role/);
    expect(() => parsePromoteEnv({ ...base, PROTECTED_ALIAS_PRINCIPALS: 'release-*' })).toThrow(
      /not an ARN pattern/,
    );
    expect(() => parsePromoteEnv({ ...base, PROTECTED_ALIASES: ' ' })).toThrow(
      /PROTECTED_ALIASES: expected aliases, or 'none'/,
    );
    expect(() => parsePromoteEnv({ ...base, PROTECTED_ALIASES: 'prod uction' })).toThrow(/Invalid alias/);
    expect(parsePromoteEnv({ ...base, PROTECTED_ALIASES: 'none' }).PROTECTED_ALIASES).toEqual([]);
    expect(parsePromoteEnv(base)).toMatchObject({
      PROTECTED_ALIASES: ['production'],
      PROTECTED_ALIAS_PRINCIPALS: [],
      PROMOTE_LOCK_WAIT_MS: 10_000,
    });
    expect(
      parsePromoteEnv({
        ...base,
        PROTECTED_ALIASES: 'production, prod-eu',
        PROTECTED_ALIAS_PRINCIPALS:
          'arn:aws:sts::123456789012:assumed-role/release/*,arn:aws:iam::123456789012:user/a',
      }),
    ).toMatchObject({
      PROTECTED_ALIASES: ['production', 'prod-eu'],
      PROTECTED_ALIAS_PRINCIPALS: [
        'arn:aws:sts::123456789012:assumed-role/release/*',
        'arn:aws:iam::123456789012:user/a',
      ],
    });
  });

  it('lets nobody move a protected alias when no pattern is configured, and says which alias', () => {
    const none = { protectedAliases: ['production'], allowedPrincipals: [] };
    expect(() => assertMayMove(none, 'production', 'arn:aws:iam::123456789012:root')).toThrow(
      "The alias 'production' is protected",
    );
  });
});

describe('createDynamoAliasLock', () => {
  const ddb = mockClient(DynamoDBClient);
  afterEach(() => ddb.reset());
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });

  it('takes the lease with a conditional put, runs the work, releases only its own lease', async () => {
    ddb.on(PutItemCommand).resolves({}).on(DeleteItemCommand).resolves({});
    const lock = createDynamoAliasLock({ client, table: 'locks', now: () => 1_000, leaseMs: 60_000 });
    expect(await lock.withLock('p#production', async () => 'done')).toBe('done');
    const put = ddb.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put).toMatchObject({
      TableName: 'locks',
      ConditionExpression: 'attribute_not_exists(lockId) OR expiresAt < :now OR #owner = :owner',
      Item: { lockId: { S: 'p#production' }, expiresAt: { N: '61000' }, expiresAtEpoch: { N: '61' } },
    });
    const del = ddb.commandCalls(DeleteItemCommand)[0]?.args[0].input;
    expect(del).toMatchObject({
      Key: { lockId: { S: 'p#production' } },
      ConditionExpression: '#owner = :owner',
    });
    expect(put?.ExpressionAttributeValues).toEqual({ ':now': { N: '1000' }, ':owner': put?.Item?.owner });
    expect(del?.ExpressionAttributeValues?.[':owner']).toEqual(put?.Item?.owner);
  });

  it('releases the lease when the work fails, and rethrows the failure', async () => {
    ddb.on(PutItemCommand).resolves({}).on(DeleteItemCommand).resolves({});
    const lock = createDynamoAliasLock({ client, table: 'locks' });
    await expect(lock.withLock('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(ddb.commandCalls(DeleteItemCommand)).toHaveLength(1);
  });

  it('waits for a busy lease, then takes it', async () => {
    ddb.on(PutItemCommand).rejectsOnce(conditionFailed()).rejectsOnce(conditionFailed()).resolves({});
    const sleeps: number[] = [];
    const lock = createDynamoAliasLock({ client, table: 'locks', sleep: async (ms) => void sleeps.push(ms) });
    expect(await lock.withLock('k', async () => 1)).toBe(1);
    expect(ddb.commandCalls(PutItemCommand)).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('gives up with MOVE_IN_PROGRESS (retry after 1 s) when the lease stays busy; the work never runs', async () => {
    ddb.on(PutItemCommand).rejects(conditionFailed());
    let clock = 0;
    const lock = createDynamoAliasLock({
      client,
      table: 'locks',
      waitMs: 500,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    let ran = false;
    const failure = await lock
      .withLock('k', async () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MoveInProgressError);
    expect(failure).toMatchObject({ code: 'MOVE_IN_PROGRESS', retryAfterMs: 1000, retryable: true });
    expect(ran).toBe(false);
    expect(ddb.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });

  it('reports a missing table as configuration and other failures as unavailable, with their cause', async () => {
    ddb.on(PutItemCommand).rejects(new ResourceNotFoundException({ message: 'no table', $metadata: {} }));
    const lock = createDynamoAliasLock({ client, table: 'locks' });
    const missing = await lock.withLock('k', async () => 1).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as Error).cause).toBeInstanceOf(ResourceNotFoundException);

    ddb.reset();
    ddb.on(PutItemCommand).rejects(new Error('socket hang up'));
    expect(await lock.withLock('k', async () => 1).catch((e: unknown) => e)).toBeInstanceOf(UnavailableError);
  });

  it('does not fail a finished move when the release is refused (the lease had expired)', async () => {
    ddb.on(PutItemCommand).resolves({}).on(DeleteItemCommand).rejects(conditionFailed());
    const failures: string[] = [];
    const lock = createDynamoAliasLock({
      client,
      table: 'locks',
      onReleaseFailure: (key) => void failures.push(key),
    });
    expect(await lock.withLock('k', async () => 'moved')).toBe('moved');
    // Someone else's lease now: nothing to report.
    expect(failures).toEqual([]);
  });

  it('reports a release that failed otherwise, without failing the finished move', async () => {
    ddb.on(PutItemCommand).resolves({}).on(DeleteItemCommand).rejects(new Error('throttled'));
    const failures: string[] = [];
    const lock = createDynamoAliasLock({
      client,
      table: 'locks',
      onReleaseFailure: (key) => void failures.push(key),
    });
    expect(await lock.withLock('p#production', async () => 'moved')).toBe('moved');
    expect(failures).toEqual(['p#production']);
  });
});

describe('request schemas', () => {
  it('accept the documented bodies', () => {
    expect(promoteBodySchema.parse({})).toEqual({});
    expect(promoteBodySchema.parse({ from: 3, to: 'canary', expectedVersion: null, reason: ' ok ' })).toEqual(
      {
        from: 3,
        to: 'canary',
        expectedVersion: null,
        reason: 'ok',
      },
    );
    expect(promoteBodySchema.parse({ from: 'latest' })).toEqual({ from: 'latest' });
    expect(rollbackBodySchema.parse({ alias: 'staging', toVersion: 2 })).toEqual({
      alias: 'staging',
      toVersion: 2,
    });
  });

  it.each([
    [{ from: 0 }, 'version number'],
    [{ from: 2.5 }, 'version number'],
    [{ from: true }, 'alias name or a version number'],
    [{ from: 'has space' }, 'Invalid alias'],
    [{ to: 'LATEST' }, 'reserved'],
    [{ expectedVersion: -1 }, 'version number'],
    [{ reason: 'x'.repeat(1001) }, '"reason"'],
    [{ extra: 1 }, 'extra'],
  ])('refuse %j', (body, words) => {
    const parsed = promoteBodySchema.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain(words);
  });
});
