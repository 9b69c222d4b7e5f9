/**
 * One deadline per invocation, through every call a function makes: the handler wrapper sets it
 * from the Lambda's remaining time, and the AWS calls (the alias lock's DynamoDB writes, S3 reads,
 * Secrets Manager reads) end with it, as the registry's and the model's HTTP calls already do.
 */
import { DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommonEnv, commonEnvSchema, parseEnv } from '../../lib/config/env';
import { DeadlineExceededError, MoveInProgressError } from '../../lib/errors';
import { createDynamoAliasLock } from '../../lib/promote/alias-lock';
import { currentDeadline, deadlineIn, withDeadline } from '../../lib/runtime/deadline';
import { ANSWER_MARGIN_MS, instrumented } from '../../lib/runtime/handler';
import { createRuntime } from '../../lib/runtime/invocation';
import { createSecretCache } from '../../lib/secrets/secret-cache';

function runtime() {
  const env: CommonEnv = parseEnv(commonEnvSchema, { PROMPTOPS_SECRET_ID: 'promptops/test/registry' });
  return createRuntime(env, {
    functionName: 'promote',
    secretsManager: { send: async () => ({}) },
    write: () => {},
  });
}

describe('the handler wrapper', () => {
  it("runs the handler under a deadline at the Lambda's end less the answer margin", async () => {
    const seen: number[] = [];
    const handler = instrumented(runtime().instruments, async () => {
      seen.push(currentDeadline()?.remainingMs() ?? -1);
    });
    await handler({}, { awsRequestId: 'r1', getRemainingTimeInMillis: () => 10_000 });
    expect(seen[0]).toBeGreaterThan(10_000 - ANSWER_MARGIN_MS - 200);
    expect(seen[0]).toBeLessThanOrEqual(10_000 - ANSWER_MARGIN_MS);
  });

  it('sets no deadline where there is no remaining time (a test, a script)', async () => {
    let deadline: unknown = 'unset';
    const handler = instrumented(runtime().instruments, async () => {
      deadline = currentDeadline();
    });
    await handler({}, { awsRequestId: 'r2' });
    expect(deadline).toBeUndefined();
  });
});

describe('the alias lock under a deadline', () => {
  const ddb = mockClient(DynamoDBClient);
  afterEach(() => ddb.reset());
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });

  it("passes the deadline's signal to the lease write, and releases on a bound of its own", async () => {
    ddb.on(PutItemCommand).resolves({}).on(DeleteItemCommand).resolves({});
    const lock = createDynamoAliasLock({ client, table: 'locks' });
    const deadline = deadlineIn(5_000);
    await withDeadline(deadline, () => lock.withLock('k', async () => 'done'));
    const putOptions = (ddb.commandCalls(PutItemCommand)[0]?.args as unknown[] | undefined)?.[1] as
      | { abortSignal?: AbortSignal }
      | undefined;
    expect(putOptions?.abortSignal).toBe(deadline.signal);
    const deleteOptions = (ddb.commandCalls(DeleteItemCommand)[0]?.args as unknown[] | undefined)?.[1] as
      | { abortSignal?: AbortSignal }
      | undefined;
    // The release is not the deadline's: it must happen even when the work used all the time.
    expect(deleteOptions?.abortSignal).toBeDefined();
    expect(deleteOptions?.abortSignal).not.toBe(deadline.signal);
  });

  it("leases for the caller's time left when that outlasts the default lease", async () => {
    ddb.on(PutItemCommand).resolves({}).on(DeleteItemCommand).resolves({});
    const lock = createDynamoAliasLock({ client, table: 'locks', now: () => 1_000, leaseMs: 60_000 });
    await withDeadline(deadlineIn(200_000), () => lock.withLock('k', async () => 'x'));
    const expires = Number(ddb.commandCalls(PutItemCommand)[0]?.args[0].input.Item?.expiresAt?.N);
    // 200 s left (less the few ms spent), plus the 5 s margin: never before the holder's own end.
    expect(expires).toBeGreaterThan(1_000 + 200_000);
    expect(expires).toBeLessThanOrEqual(1_000 + 205_000);
    ddb.reset();
    ddb.on(PutItemCommand).resolves({}).on(DeleteItemCommand).resolves({});
    await withDeadline(deadlineIn(10_000), () => lock.withLock('k', async () => 'x'));
    expect(Number(ddb.commandCalls(PutItemCommand)[0]?.args[0].input.Item?.expiresAt?.N)).toBe(61_000);
  });

  it('stops waiting for a busy lease when the caller has no time left for another try', async () => {
    const busy = Object.assign(new Error('busy'), { name: 'ConditionalCheckFailedException' });
    ddb.on(PutItemCommand).rejects(busy);
    const lock = createDynamoAliasLock({ client, table: 'locks', waitMs: 60_000 });
    const started = Date.now();
    await expect(
      withDeadline(deadlineIn(300), () => lock.withLock('k', async () => 'x')),
    ).rejects.toBeInstanceOf(MoveInProgressError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("says the caller's time ran out when the lease write is aborted by the deadline", async () => {
    ddb.on(PutItemCommand).callsFake(
      (_input, getClient) =>
        new Promise((_, reject) => {
          void getClient;
          setTimeout(() => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), 80);
        }),
    );
    const lock = createDynamoAliasLock({ client, table: 'locks' });
    await expect(
      withDeadline(deadlineIn(50), () => lock.withLock('k', async () => 'x')),
    ).rejects.toBeInstanceOf(DeadlineExceededError);
  });
});

describe('the secret cache under a deadline', () => {
  it("stops waiting at the caller's deadline; the fetch goes on for the next caller", async () => {
    let release: (value: unknown) => void = () => {};
    const slow = new Promise((resolve) => {
      release = resolve;
    });
    let sends = 0;
    const secrets = createSecretCache({
      client: {
        send: async () => {
          sends += 1;
          await slow;
          return {
            SecretString: JSON.stringify({
              registry: { type: 'mlflow', trackingUri: 'http://127.0.0.1:5000' },
            }),
          };
        },
      } as never,
      ttlMs: 60_000,
    });
    await expect(withDeadline(deadlineIn(50), () => secrets.get('s'))).rejects.toBeInstanceOf(
      DeadlineExceededError,
    );
    release(undefined);
    await expect(secrets.get('s')).resolves.toMatchObject({
      registry: { trackingUri: 'http://127.0.0.1:5000' },
    });
    expect(sends).toBe(1);
  });
});
