/**
 * Where the CLI finds Databricks credentials, as the Databricks CLI and SDKs do: the variables
 * `DATABRICKS_HOST`, `DATABRICKS_TOKEN`, `DATABRICKS_CLIENT_ID` and `DATABRICKS_CLIENT_SECRET`;
 * a profile of `~/.databrickscfg` (`DATABRICKS_CONFIG_FILE` for another file) fills in what they
 * leave unset when it is named (`DATABRICKS_CONFIG_PROFILE`, which must exist), or, when none of
 * those variables is set, the `DEFAULT` profile is read. As the SDK for Python does: with a host
 * or a credential in the variables and no profile named, the file is not read at all, so a
 * `[DEFAULT]` token never goes to a host the variables name.
 *
 * Exactly one kind of credential must result: a token, or a client id with its secret. Errors
 * name the variables and keys, never their values.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors';

export interface DatabricksSettings {
  readonly host: string;
  readonly auth:
    | { readonly kind: 'pat'; readonly token: string }
    | { readonly kind: 'oauth-m2m'; readonly clientId: string; readonly clientSecret: string };
  /** Where the settings came from, for messages: the variables, or the file and profile. */
  readonly from: string;
}

const KEYS = {
  host: 'DATABRICKS_HOST',
  token: 'DATABRICKS_TOKEN',
  client_id: 'DATABRICKS_CLIENT_ID',
  client_secret: 'DATABRICKS_CLIENT_SECRET',
} as const;
type Key = keyof typeof KEYS;

/** The profiles of a `.databrickscfg` (INI: `[name]`, `key = value`, `#` and `;` comments). */
export function parseDatabricksCfg(text: string): Map<string, Map<string, string>> {
  const profiles = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section?.[1]) {
      current = new Map();
      profiles.set(section[1].trim(), current);
      continue;
    }
    // By index, not a pattern: a long line without '=' must not cost quadratic time.
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (key !== '' && current) current.set(key.toLowerCase(), line.slice(eq + 1).trim());
  }
  return profiles;
}

export function databricksSettings(
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string | undefined = (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
): DatabricksSettings {
  const named = env.DATABRICKS_CONFIG_PROFILE?.trim() || undefined;
  const profileName = named ?? 'DEFAULT';
  const file = env.DATABRICKS_CONFIG_FILE?.trim() || join(homedir(), '.databrickscfg');
  const fromVariables = Object.values(KEYS).some((variable) => env[variable]?.trim());
  const text = named !== undefined || !fromVariables ? readFile(file) : undefined;
  const profile = text === undefined ? undefined : parseDatabricksCfg(text).get(profileName);
  if (named && !profile)
    throw new ConfigError(`DATABRICKS_CONFIG_PROFILE names profile '${named}', which ${file} does not have.`);

  const where = (key: Key) => (env[KEYS[key]]?.trim() ? KEYS[key] : `${key} in [${profileName}] of ${file}`);
  const value = (key: Key) => env[KEYS[key]]?.trim() || profile?.get(key) || undefined;
  const host = value('host');
  if (!host)
    throw new ConfigError(`No Databricks host: set DATABRICKS_HOST, or host in [${profileName}] of ${file}.`);
  const token = value('token');
  const clientId = value('client_id');
  const clientSecret = value('client_secret');
  if (token && (clientId || clientSecret))
    throw new ConfigError(
      `Both a token (${where('token')}) and OAuth client credentials (${where(clientId ? 'client_id' : 'client_secret')}) are set: keep one.`,
    );
  if (clientId && !clientSecret)
    throw new ConfigError(
      `${where('client_id')} is set without its secret: set DATABRICKS_CLIENT_SECRET too.`,
    );
  if (clientSecret && !clientId)
    throw new ConfigError(
      `${where('client_secret')} is set without its client id: set DATABRICKS_CLIENT_ID too.`,
    );
  const from = profile
    ? `the DATABRICKS_* variables and [${profileName}] of ${file}`
    : 'the DATABRICKS_* variables';
  if (token) return { host, auth: { kind: 'pat', token }, from };
  if (clientId && clientSecret) return { host, auth: { kind: 'oauth-m2m', clientId, clientSecret }, from };
  throw new ConfigError(
    `No Databricks credentials: set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (or token, or client_id and client_secret, in [${profileName}] of ${file}).`,
  );
}
