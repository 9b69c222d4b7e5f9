/** Lambda entry point: everything built once per cold start, then reused by warm invocations. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { AWS_CLIENT_BOUNDS } from '../../lib/runtime/aws-bounds';
import { createRuntime } from '../../lib/runtime/invocation';
import { createPromoteHandler } from './core';

const env = parsePromoteEnv(process.env);

export const handler = createPromoteHandler({
  env,
  runtime: createRuntime(env, { functionName: 'promote' }),
  dynamodb: new DynamoDBClient(AWS_CLIENT_BOUNDS),
});
