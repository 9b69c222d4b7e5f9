/**
 * Databricks credentials: a personal access token as is; OAuth M2M through discovery and the
 * client-credentials grant (faked at the transport seam, as the SDKs' flow is described in
 * mlflow-contract.md §7.2), one token request for concurrent callers, reuse until 40 s before
 * expiry, one refresh after a 401; and where the CLI finds them (variables, `.databrickscfg`).
 */
import { inspect } from 'node:util';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { databricksSettings, parseDatabricksCfg } from '../../lib/databricks/config';
import { EXPIRY_MARGIN_MS, m2mCredentials, patCredentials } from '../../lib/databricks/credentials';
import { ConfigError, MalformedResponseError, UnauthorizedError, UnavailableError } from '../../lib/errors';

const HOST = 'https://adb-1234.5.azuredatabricks.net';
const CLIENT_ID = 'sp-client-0001';
const CLIENT_SECRET = 'dose-UNIT-SECRET-91f2';
const DISCOVERY = '/oidc/.well-known/oauth-authorization-server';

let agent: MockAgent;
let clock: number;
let tokenRequests: { headers: Record<string, string>; body: string }[];

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  clock = 1_000_000;
  tokenRequests = [];
});
afterEach(() => agent.close());

const pool = () => agent.get(HOST);

function discovery(endpoint = `${HOST}/oidc/v1/token`) {
  pool().intercept({ path: DISCOVERY, method: 'GET' }).reply(200, { token_endpoint: endpoint });
}

/** Answers one token request with `token`, valid `expiresIn` seconds, keeping what was sent. */
function tokenAnswer(token: string, expiresIn = 3600, status = 200, body?: unknown) {
  pool()
    .intercept({ path: '/oidc/v1/token', method: 'POST' })
    .reply((sent) => {
      tokenRequests.push({ headers: sent.headers as Record<string, string>, body: String(sent.body) });
      return {
        statusCode: status,
        data: body ?? { access_token: token, token_type: 'Bearer', expires_in: expiresIn },
      };
    });
}

const m2m = () =>
  m2mCredentials({
    host: `${HOST}/`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    dispatcher: agent,
    now: () => clock,
  });

describe('Databricks OAuth M2M', () => {
  it('discovers the token endpoint and asks for an all-apis token with the client as HTTP Basic', async () => {
    discovery();
    tokenAnswer('tok-1');
    const credentials = m2m();
    expect(credentials.host).toBe(HOST);
    expect(await credentials.authorization()).toBe('Bearer tok-1');
    expect(tokenRequests).toHaveLength(1);
    const [sent] = tokenRequests;
    expect(sent?.body).toBe('grant_type=client_credentials&scope=all-apis');
    expect(sent?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
    );
  });

  it('asks once for concurrent callers, reuses the token until 40 s before it expires, then asks again', async () => {
    discovery();
    tokenAnswer('tok-1', 3600);
    tokenAnswer('tok-2', 3600);
    const credentials = m2m();
    const headers = await Promise.all(Array.from({ length: 10 }, () => credentials.authorization()));
    expect(new Set(headers)).toEqual(new Set(['Bearer tok-1']));
    expect(tokenRequests).toHaveLength(1);
    clock += 3600_000 - EXPIRY_MARGIN_MS - 1;
    expect(await credentials.authorization()).toBe('Bearer tok-1');
    clock += 1;
    expect(await credentials.authorization()).toBe('Bearer tok-2');
    // Discovery is not repeated for the refresh.
    expect(tokenRequests).toHaveLength(2);
  });

  it('drops a refused token once, however many callers saw it refused', async () => {
    discovery();
    tokenAnswer('tok-1');
    tokenAnswer('tok-2');
    const credentials = m2m();
    const first = await credentials.authorization();
    credentials.refused(first);
    credentials.refused(first);
    const [a, b] = await Promise.all([credentials.authorization(), credentials.authorization()]);
    expect([a, b]).toEqual(['Bearer tok-2', 'Bearer tok-2']);
    // A late refusal of the old token leaves the new one alone.
    credentials.refused(first);
    expect(await credentials.authorization()).toBe('Bearer tok-2');
    expect(tokenRequests).toHaveLength(2);
  });

  it('says the client credentials were refused, with the OAuth error code and without the secret', async () => {
    discovery();
    tokenAnswer('', 0, 401, { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET}` });
    const credentials = m2m();
    const error = await credentials.authorization().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as Error).message).toBe(
      "Databricks refused the service principal's client credentials (401 invalid_client).",
    );
    expect(inspect(error)).not.toContain(CLIENT_SECRET);
    expect(JSON.stringify(credentials)).toBe(JSON.stringify({ kind: 'oauth-m2m', host: HOST }));
    expect(inspect(credentials)).not.toContain(CLIENT_SECRET);
  });

  it('never sends the client secret off the workspace, and names malformed answers', async () => {
    discovery('https://elsewhere.example.com/oidc/v1/token');
    const elsewhere = await m2m()
      .authorization()
      .catch((caught: unknown) => caught);
    expect(elsewhere).toBeInstanceOf(MalformedResponseError);
    expect((elsewhere as Error).message).toContain('not on the workspace');
    expect(tokenRequests).toHaveLength(0);

    discovery();
    tokenAnswer('', 0, 200, { token_type: 'Bearer', expires_in: 3600 });
    await expect(m2m().authorization()).rejects.toThrow(/lacks access_token/);

    pool().intercept({ path: DISCOVERY, method: 'GET' }).reply(503, 'busy');
    await expect(m2m().authorization()).rejects.toBeInstanceOf(UnavailableError);
  });

  it('stops waiting when its caller leaves, and the token still arrives for the others', async () => {
    discovery();
    pool()
      .intercept({ path: '/oidc/v1/token', method: 'POST' })
      .reply(200, { access_token: 'tok-1', token_type: 'Bearer', expires_in: 3600 })
      .delay(100);
    const credentials = m2m();
    const leaving = new AbortController();
    const left = credentials.authorization(leaving.signal).catch((caught: unknown) => caught);
    const staying = credentials.authorization();
    leaving.abort(new Error('caller left'));
    expect(((await left) as Error).message).toBe('caller left');
    expect(await staying).toBe('Bearer tok-1');
  });
});

describe('Databricks personal access token', () => {
  it('is the bearer header, and a refusal changes nothing', async () => {
    const credentials = patCredentials(HOST, 'dapi-UNIT-7');
    expect(await credentials.authorization()).toBe('Bearer dapi-UNIT-7');
    credentials.refused('Bearer dapi-UNIT-7');
    expect(await credentials.authorization()).toBe('Bearer dapi-UNIT-7');
    expect(JSON.stringify(credentials)).not.toContain('dapi-UNIT-7');
  });
});

describe('the workspace host', () => {
  it('must be https, but for loopback', () => {
    expect(() => patCredentials('http://adb.example.net', 'dapi-x-123456')).toThrow(/must be https/);
    expect(() =>
      m2mCredentials({ host: 'http://adb.example.net', clientId: 'a', clientSecret: 'b' }),
    ).toThrow(/must be https/);
    expect(patCredentials('http://127.0.0.1:9', 'dapi-x-123456').host).toBe('http://127.0.0.1:9');
  });
});

describe('Databricks settings for the CLI', () => {
  const cfg = [
    '; a comment',
    '[DEFAULT]',
    'host = https://adb-1.azuredatabricks.net',
    'token = dapi-file-default',
    '',
    '[sp]',
    'host=https://adb-2.azuredatabricks.net',
    'client_id = sp-2',
    'client_secret = sp-2-secret',
  ].join('\n');
  const files = (text: string | undefined) => () => text;

  it('reads the profiles of a .databrickscfg', () => {
    const profiles = parseDatabricksCfg(cfg);
    expect([...profiles.keys()]).toEqual(['DEFAULT', 'sp']);
    expect(profiles.get('sp')?.get('client_id')).toBe('sp-2');
  });

  it('takes the variables first, then the profile for what they leave unset', () => {
    expect(
      databricksSettings({ DATABRICKS_HOST: HOST, DATABRICKS_TOKEN: 'dapi-env' }, files(undefined)),
    ).toMatchObject({
      host: HOST,
      auth: { kind: 'pat', token: 'dapi-env' },
    });
    expect(databricksSettings({}, files(cfg))).toMatchObject({
      host: 'https://adb-1.azuredatabricks.net',
      auth: { kind: 'pat', token: 'dapi-file-default' },
    });
    expect(
      databricksSettings({ DATABRICKS_CONFIG_PROFILE: 'sp', DATABRICKS_HOST: HOST }, files(cfg)),
    ).toMatchObject({
      host: HOST,
      auth: { kind: 'oauth-m2m', clientId: 'sp-2', clientSecret: 'sp-2-secret' },
    });
  });

  it('refuses a missing or ambiguous configuration, naming where, never the values', () => {
    const refusal = (env: NodeJS.ProcessEnv, text?: string) => {
      try {
        databricksSettings(env, files(text));
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refusal({ DATABRICKS_CONFIG_PROFILE: 'nope' }, cfg)).toMatch(/profile 'nope'/);
    expect(refusal({})).toMatch(/No Databricks host: set DATABRICKS_HOST/);
    expect(refusal({ DATABRICKS_HOST: HOST })).toMatch(/No Databricks credentials/);
    const both = refusal({
      DATABRICKS_HOST: HOST,
      DATABRICKS_TOKEN: 'dapi-SECRET-1',
      DATABRICKS_CLIENT_ID: 'id-1',
    });
    expect(both).toMatch(/DATABRICKS_TOKEN.*DATABRICKS_CLIENT_ID.*keep one/);
    expect(both).not.toContain('dapi-SECRET-1');
    expect(refusal({ DATABRICKS_HOST: HOST, DATABRICKS_CLIENT_ID: 'id-1' })).toMatch(/without its secret/);
    // A named profile's token with the variables' client credentials: ambiguous, and said where.
    expect(
      refusal(
        { DATABRICKS_CONFIG_PROFILE: 'DEFAULT', DATABRICKS_CLIENT_ID: 'id', DATABRICKS_CLIENT_SECRET: 's' },
        cfg,
      ),
    ).toMatch(/token in \[DEFAULT\] of .*databrickscfg/);
  });

  it('does not read the file when the variables name a host or a credential and no profile is named', () => {
    // The [DEFAULT] token belongs to another workspace: it must not go to the host the variables name.
    const error = (() => {
      try {
        databricksSettings({ DATABRICKS_HOST: 'https://other.example.net' }, files(cfg));
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/No Databricks credentials/);
    expect(
      databricksSettings(
        { DATABRICKS_CLIENT_ID: 'id', DATABRICKS_CLIENT_SECRET: 's', DATABRICKS_HOST: HOST },
        files(cfg),
      ),
    ).toMatchObject({ host: HOST, auth: { kind: 'oauth-m2m', clientId: 'id' } });
  });
});
