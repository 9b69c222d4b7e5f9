/**
 * Which registry a CLI command talks to, chosen as MLflow chooses: a tracking server by URL, or
 * Unity Catalog by MLFLOW_REGISTRY_URI=databricks-uc or a tracking URI `databricks[://profile]`,
 * with the Databricks credentials from the variables or a `~/.databrickscfg` profile.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../lib/cli/io';
import { databricksTarget, registryFromEnv } from '../../lib/cli/registry-from-env';

const HOST = 'https://adb-1.example.net';

describe('databricksTarget', () => {
  it('is Unity Catalog for databricks-uc, or for a databricks tracking URI; a tracking server otherwise', () => {
    expect(databricksTarget({ MLFLOW_REGISTRY_URI: 'databricks-uc' }, undefined)).toEqual({
      profile: undefined,
    });
    expect(databricksTarget({ MLFLOW_REGISTRY_URI: 'databricks-uc://prod' }, undefined)).toEqual({
      profile: 'prod',
    });
    expect(databricksTarget({ MLFLOW_TRACKING_URI: 'databricks' }, undefined)).toEqual({
      profile: undefined,
    });
    expect(databricksTarget({}, 'databricks://staging')).toEqual({ profile: 'staging' });
    expect(databricksTarget({ MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000' }, undefined)).toBeUndefined();
    expect(databricksTarget({}, 'https://databricks.example.net')).toBeUndefined();
  });

  it('refuses a registry URI it cannot serve, naming it', () => {
    expect(() => databricksTarget({ MLFLOW_REGISTRY_URI: 'databricks' }, undefined)).toThrow(UsageError);
    expect(() => databricksTarget({ MLFLOW_REGISTRY_URI: 'sqlite:///x.db' }, 'http://a')).toThrow(
      /MLFLOW_REGISTRY_URI 'sqlite:\/\/\/x.db' is not supported/,
    );
  });
});

describe('registryFromEnv on Databricks', () => {
  it('builds a Unity Catalog client at the workspace host from the variables', () => {
    const registry = registryFromEnv(
      {
        MLFLOW_TRACKING_URI: 'databricks',
        DATABRICKS_HOST: HOST,
        DATABRICKS_TOKEN: 'dapi-x',
        DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
      },
      undefined,
    );
    expect(registry.trackingUri).toBe(HOST);
    expect(registry.traceStore).toBe('artifacts');
  });

  it('reads the profile a databricks://<profile> URI names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, '.databrickscfg');
    writeFileSync(file, `[prod]\nhost = ${HOST}\nclient_id = sp\nclient_secret = s3cret-value\n`);
    const registry = registryFromEnv({ DATABRICKS_CONFIG_FILE: file }, 'databricks://prod');
    expect(registry.trackingUri).toBe(HOST);
    expect(() => registryFromEnv({ DATABRICKS_CONFIG_FILE: file }, 'databricks://missing')).toThrow(
      /profile 'missing'/,
    );
  });

  it('names what is missing as a usage error, never a value', () => {
    const error = (() => {
      try {
        registryFromEnv(
          {
            MLFLOW_REGISTRY_URI: 'databricks-uc',
            DATABRICKS_HOST: HOST,
            DATABRICKS_TOKEN: 'dapi-secret-1',
            DATABRICKS_CLIENT_ID: 'x',
            DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
          },
          undefined,
        );
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(String(error)).toMatch(/DATABRICKS_TOKEN.*DATABRICKS_CLIENT_ID/);
    expect(String(error)).not.toContain('dapi-secret-1');
  });
});
