/**
 * Predict's data provider, as configured: none (`request`: the request brings the data, and a
 * domain without any is told so), or Databricks system tables on a SQL warehouse, reached with
 * the Databricks credentials of the secret (or, for the CLI, of the environment).
 */
import type { Dispatcher } from 'undici';
import type { DataProvider } from '../agent/flow';
import type { DatabricksCredentials } from '../databricks/credentials';
import { credentialsOfSecret } from '../databricks/from-secret';
import { createStatementRunner, type StatementRunner } from '../databricks/sql-statements';
import { createSystemTableProvider } from '../databricks/system-tables';
import { ConfigError } from '../errors';
import type { DataSettings } from '../predict/settings';
import { createHttpClient } from '../registry/http';
import type { RegistrySecret } from '../secrets/registry-secret';
import type { SecretCache } from '../secrets/secret-cache';
import { withRotatedSecret } from './secret-rotation';

/** A statement runner on the workspace these credentials reach. */
export function statementRunnerFor(
  credentials: DatabricksCredentials,
  options: { dispatcher?: Dispatcher | undefined; timeoutMs?: number | undefined } = {},
): StatementRunner {
  return createStatementRunner(
    createHttpClient({
      trackingUri: credentials.host,
      credentials,
      dispatcher: options.dispatcher,
      // Longer than the server's longest wait (10 s) and our margin: see sql-statements.ts.
      timeoutMs: options.timeoutMs ?? 15_000,
      service: 'SQL warehouse API',
    }),
  );
}

export function dataProviderFor(
  settings: DataSettings,
  runner: () => Promise<StatementRunner>,
): DataProvider | undefined {
  if (settings.source === 'request') return undefined;
  return createSystemTableProvider(runner, {
    warehouseId: settings.warehouseId as string,
    maxRows: settings.maxRows,
    timeoutMs: settings.timeoutMs,
  });
}

/** In Lambda: the runner follows the secret (a rotated secret gets a new one, read again when the token endpoint refuses the old). */
export function secretStatementRunner(options: {
  readonly secrets: SecretCache;
  readonly secretId: string;
  readonly dispatcher?: Dispatcher | undefined;
}): () => Promise<StatementRunner> {
  const runners = new WeakMap<object, StatementRunner>();
  const runnerOf = (secret: RegistrySecret): StatementRunner => {
    if (secret.registry.type !== 'databricks') {
      throw new ConfigError(
        `PREDICT_DATA_SOURCE=system-tables needs a Databricks workspace: secret '${options.secretId}' names an MLflow registry.`,
      );
    }
    let runner = runners.get(secret.registry);
    if (!runner) {
      runner = statementRunnerFor(credentialsOfSecret(secret.registry, options), options);
      runners.set(secret.registry, runner);
    }
    return runner;
  };
  return async () => {
    const runner = runnerOf(await options.secrets.get(options.secretId));
    return {
      run: (statement, parameters, statementOptions) =>
        withRotatedSecret(options, runner, runnerOf, (r) => r.run(statement, parameters, statementOptions)),
    };
  };
}
