/** The promote function's handler as the tests build it: the release managers may move production. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createPromoteHandler } from '../../functions/promote/core';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { createRuntime } from '../../lib/runtime/invocation';

export const RELEASE_MANAGERS = 'arn:aws:sts::123456789012:assumed-role/release-managers/*';

export interface PromoteHandlerSetup {
  readonly secretId: string;
  readonly prefix: string;
  readonly table: string;
  readonly secretsManager: Pick<SecretsManagerClient, 'send'>;
  readonly dynamodb: Pick<DynamoDBClient, 'send'>;
  /** Where the function's log lines (and metrics) go. */
  readonly logs: string[];
  readonly now: Date;
  readonly env?: Record<string, string>;
}

export function promoteHandler(setup: PromoteHandlerSetup) {
  const env = parsePromoteEnv({
    PROMPTOPS_SECRET_ID: setup.secretId,
    PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
    PROMPT_NAME_PREFIX: setup.prefix,
    PROMOTE_LOCK_TABLE: setup.table,
    PROTECTED_ALIASES: 'production',
    PROTECTED_ALIAS_PRINCIPALS: RELEASE_MANAGERS,
    ...setup.env,
  });
  const runtime = createRuntime(env, {
    functionName: 'promote',
    secretsManager: setup.secretsManager,
    write: (line) => setup.logs.push(line),
  });
  return createPromoteHandler({ env, runtime, dynamodb: setup.dynamodb, now: () => setup.now });
}
