/**
 * The promote handler's answers to failures a real MLflow server will not produce on demand:
 * the registry refusing the function's own credentials (502, after one secret refresh), and an
 * alias moved but left unrecorded (500, with an audit line). Faked at the transport seams only.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { createPromoteHandler } from '../../functions/promote/core';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { AuditIncompleteError } from '../../lib/errors';
import { problemResponse } from '../../lib/http/problem';
import { createRuntime } from '../../lib/runtime/invocation';
import { mockTransport } from '../support/mock-transport';

const TOKEN = 'tok-HANDLER-UNIT-7c1d';
const ADMIN = 'arn:aws:iam::123456789012:user/release';

describe('promote handler: upstream failures', () => {
  const { sm, agent } = mockTransport();

  it('answers 502 when the registry refuses the credentials, also after the secret is fetched again', async () => {
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({
        registry: { type: 'mlflow', trackingUri: 'http://registry.test', token: TOKEN },
      }),
    });
    agent()
      .get('http://registry.test')
      .intercept({ path: /alias/, method: 'GET' })
      .reply(401, { error_code: 'UNAUTHENTICATED', message: `bad token ${TOKEN}` })
      .times(2);
    const lines: string[] = [];
    const env = parsePromoteEnv({
      PROMPTOPS_SECRET_ID: 'promptops/unit/registry',
      PROMOTE_LOCK_TABLE: 'locks',
      PROTECTED_ALIAS_PRINCIPALS: ADMIN,
    });
    const runtime = createRuntime(env, {
      functionName: 'promote',
      secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
      dispatcher: agent(),
      write: (line) => lines.push(line),
    });
    const handler = createPromoteHandler({
      env,
      runtime,
      dynamodb: new DynamoDBClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      }),
    });
    const answer = await handler(
      {
        routeKey: 'POST /prompts/{name}/promote',
        pathParameters: { name: 'orchestrator' },
        body: '{}',
        requestContext: { authorizer: { iam: { userArn: ADMIN } } },
      },
      { awsRequestId: 'req-502' },
    );
    expect(answer.statusCode).toBe(502);
    expect(JSON.parse(answer.body ?? '{}')).toEqual({
      type: 'urn:promptops:problem:internal',
      title: 'Bad Gateway',
      status: 502,
      detail: 'An internal error occurred; it has been logged.',
      code: 'INTERNAL',
      requestId: 'req-502',
    });
    expect(lines.join('\n')).toContain('request failed');
    expect(lines.join('\n')).not.toContain(TOKEN);
  });
});

describe('an unrecorded move', () => {
  it('is a 500 that says nothing internal to the caller', () => {
    const error = new AuditIncompleteError(
      "Alias 'production' of 'orchestrator' was moved to version 4, but ...",
    );
    const answer = problemResponse(error, 'req-1');
    expect(answer.statusCode).toBe(500);
    expect(JSON.parse(answer.body)).toMatchObject({
      code: 'INTERNAL',
      detail: 'An internal error occurred; it has been logged.',
    });
  });
});
