/** Lambda entry point: everything built once per cold start, then reused by warm invocations. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseRolloutEnv } from '../../lib/config/rollout-env';
import { AWS_CLIENT_BOUNDS } from '../../lib/runtime/aws-bounds';
import { createRuntime } from '../../lib/runtime/invocation';
import { createRolloutHandler } from './core';

const env = parseRolloutEnv(process.env);

export const handler = createRolloutHandler({
  env,
  runtime: createRuntime(env, { functionName: 'rollout' }),
  dynamodb: new DynamoDBClient(AWS_CLIENT_BOUNDS),
});
