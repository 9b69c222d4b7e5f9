/** Lambda entry point: everything built once per cold start, then reused by warm invocations. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { parseRegisterEnv } from '../../lib/config/register-env';
import { AWS_CLIENT_BOUNDS } from '../../lib/runtime/aws-bounds';
import { createRuntime } from '../../lib/runtime/invocation';
import { createRegisterHandler } from './core';

const env = parseRegisterEnv(process.env);

export const handler = createRegisterHandler({
  env,
  runtime: createRuntime(env, { functionName: 'register' }),
  s3: new S3Client(AWS_CLIENT_BOUNDS),
  dynamodb: new DynamoDBClient(AWS_CLIENT_BOUNDS),
});
