/** Lambda entry point: everything built once per cold start, then reused by warm invocations. */
import { parseVerifyEnv } from '../../lib/config/verify-env';
import { createRuntime } from '../../lib/runtime/invocation';
// The predict function's bundled fallback, taken the same way when this function is bundled.
import { bundledSnapshot } from '../predict/bundled-snapshot';
import { createVerifyHandler } from './core';

const env = parseVerifyEnv(process.env);

export const handler = createVerifyHandler({
  env,
  runtime: createRuntime(env, { functionName: 'verify' }),
  fallback: bundledSnapshot,
});
