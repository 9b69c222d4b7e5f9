/**
 * The register function end to end: files put in moto's S3, the handler invoked with S3 events
 * as AWS shapes them, credentials from moto's Secrets Manager, versions in the real MLflow server,
 * and read back with MLflow's Python SDK.
 */

import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRegisterHandler, RegisterBatchError } from '../../functions/register/core';
import { parseRegisterEnv } from '../../lib/config/register-env';
import { PROVENANCE_TAGS } from '../../lib/register/process-upload';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { createRuntime } from '../../lib/runtime/invocation';
import { startFaultyProxy } from '../support/faulty-proxy';
import { uniqueName } from '../support/names';
import { type Oracle, startOracle } from '../support/oracle';
import { s3Event } from '../support/s3-events';
import { makeSecret as createSecret } from '../support/secrets';
import { awsEnvFor, freePort } from '../support/servers';

const mlflowUri = inject('mlflowUri');
const motoUri = inject('motoUri');
const TOKEN = `tok-${randomUUID()}`;
const PASSWORD = `pw-${randomUUID()}`;

let s3: S3Client;
let secretsManager: SecretsManagerClient;
let registry: RegistryClient;
let oracle: Oracle;
const bucket = `prompts-${randomUUID().slice(0, 8)}`;
const logs: string[] = [];

const makeSecret = (value: unknown) => createSecret(secretsManager, value);

async function handlerFor(secretId: string, extraEnv: Record<string, string> = {}) {
  const env = parseRegisterEnv({
    PROMPTOPS_SECRET_ID: secretId,
    PROMPTS_BUCKET: bucket,
    PROMPTS_PREFIX: 'prompts/',
    PROMPTOPS_HTTP_TIMEOUT_MS: '3000',
    ...extraEnv,
  });
  const runtime = createRuntime(env, {
    functionName: 'register',
    secretsManager,
    write: (line) => logs.push(line),
  });
  return createRegisterHandler({ env, runtime, s3 });
}

const context = () => ({ awsRequestId: randomUUID() });

function promptFile(name: string, body: string): string {
  return `---\nname: ${name}\nvariables: [q]\ntags: {team: it}\n---\n${body}\n`;
}

async function put(key: string, body: string | Uint8Array) {
  const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return out;
}

let secretId: string;

beforeAll(async () => {
  Object.assign(process.env, awsEnvFor(motoUri));
  s3 = new S3Client({});
  secretsManager = new SecretsManagerClient({});
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  secretId = await makeSecret({ registry: { type: 'mlflow', trackingUri: mlflowUri, token: TOKEN } });
  registry = createRegistryClient({ trackingUri: mlflowUri });
  oracle = startOracle(mlflowUri);
});
afterAll(() => oracle?.close());

describe('register function', () => {
  it('registers an uploaded file with provenance, sets staging and (first time) production', async () => {
    const name = uniqueName('fn');
    const key = `prompts/${name}.md`;
    const uploaded = await put(key, promptFile(name, 'Answer {{ q }}'));
    const handler = await handlerFor(secretId);
    const summary = await handler(s3Event([{ bucket, key }]), context());
    expect(summary.results).toEqual([expect.objectContaining({ key, name, status: 'created', version: 1 })]);

    const version = await registry.getPromptVersion(name, 1);
    expect(version.template).toBe('Answer {{ q }}');
    expect(version.tags).toMatchObject({
      team: 'it',
      [PROVENANCE_TAGS.bucket]: bucket,
      [PROVENANCE_TAGS.key]: key,
      [PROVENANCE_TAGS.etag]: uploaded.ETag?.replaceAll('"', ''),
    });
    expect((await registry.getPrompt(name)).aliases).toEqual({ staging: 1, production: 1 });
    const python = await oracle.call<{ template: string; version: number }>('load', {
      uri: `prompts:/${name}@staging`,
    });
    expect(python).toMatchObject({ template: 'Answer {{ q }}', version: 1 });
  });

  it('lists a new prompt on the configured experiment, created by name, as MLflow does on registration', async () => {
    const name = uniqueName('listed');
    const key = `prompts/${name}.md`;
    await put(key, promptFile(name, 'Answer {{ q }}'));
    const experiment = `it-register-${randomUUID().slice(0, 8)}`;
    const handler = await handlerFor(secretId, { MLFLOW_EXPERIMENT_NAME: experiment });
    await handler(s3Event([{ bucket, key }]), context());
    const id = await registry.getExperimentIdByName(experiment);
    expect(id).toMatch(/^[0-9]+$/);
    expect((await registry.getPrompt(name)).tags._mlflow_experiment_ids).toBe(`,${id},`);
  });

  it('registers all the same when the experiment cannot be resolved, and says so', async () => {
    const proxy = await startFaultyProxy(mlflowUri);
    try {
      proxy.failPaths(/experiments\/get-by-name/, 400);
      const viaProxy = await makeSecret({
        registry: { type: 'mlflow', trackingUri: proxy.url, token: TOKEN },
      });
      const name = uniqueName('unlisted');
      const key = `prompts/${name}.md`;
      await put(key, promptFile(name, 'Answer {{ q }}'));
      logs.length = 0;
      const handler = await handlerFor(viaProxy, { MLFLOW_EXPERIMENT_NAME: 'refused' });
      const summary = await handler(s3Event([{ bucket, key }]), context());
      expect(summary.results).toEqual([expect.objectContaining({ status: 'created', version: 1 })]);
      expect(logs.some((l) => l.includes('prompts not listed on the experiment'))).toBe(true);
      expect(logs.some((l) => l.includes('"ExperimentListingFailed"'))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('yields one version when the same event is delivered three times', async () => {
    const name = uniqueName('redeliver');
    const key = `prompts/${name}.md`;
    await put(key, promptFile(name, 'Answer {{ q }}'));
    const handler = await handlerFor(secretId);
    const event = s3Event([{ bucket, key }]);
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await handler(event, context())).results[0]?.status);
    expect(statuses).toEqual(['created', 'unchanged', 'unchanged']);
    expect((await registry.searchPromptVersions(name)).items).toHaveLength(1);
  });

  it('registers a changed file as a new version, moving staging but not production', async () => {
    const name = uniqueName('changed');
    const key = `prompts/${name}.md`;
    const handler = await handlerFor(secretId);
    await put(key, promptFile(name, 'Answer {{ q }}'));
    await handler(s3Event([{ bucket, key, sequencer: '01' }]), context());
    await put(key, promptFile(name, 'Answer briefly: {{ q }}'));
    const summary = await handler(s3Event([{ bucket, key, sequencer: '02' }]), context());
    expect(summary.results[0]).toMatchObject({ status: 'created', version: 2 });
    expect((await registry.getPrompt(name)).aliases).toEqual({ staging: 2, production: 1 });
  });

  it('registers the good files of a batch and refuses the bad one, without a retry that could not cure it', async () => {
    const good = uniqueName('good');
    const badKey = `prompts/${uniqueName('bad')}.md`;
    await put(`prompts/${good}.md`, promptFile(good, 'Fine {{ q }}'));
    await put(badKey, '---\nvariables: [q]\n---\nNo variable here\n');
    const handler = await handlerFor(secretId);
    // The invocation succeeds: S3's retries, then the dead-letter queue, would replay a file that
    // can never register.
    const summary = await handler(
      s3Event([
        { bucket, key: badKey },
        { bucket, key: `prompts/${good}.md` },
      ]),
      context(),
    );
    const bad = summary.results.find((r) => r.key === badKey);
    expect(bad).toMatchObject({ status: 'failed', code: 'INVALID_PROMPT_FILE', permanent: true });
    expect(bad?.status === 'failed' ? bad.reason : '').toContain('declared variable(s) q do not appear');
    await expect(registry.getPromptVersion(good, 1)).resolves.toMatchObject({ template: 'Fine {{ q }}' });
    expect(logs.some((l) => l.includes('"upload refused"') && l.includes(badKey))).toBe(true);
    expect(logs.some((l) => l.includes('"UploadRefused"'))).toBe(true);
  });

  it('ends with staging on the newest content when two uploads arrive out of order', async () => {
    const name = uniqueName('order');
    const key = `prompts/${name}.md`;
    const handler = await handlerFor(secretId);
    await put(key, promptFile(name, 'First {{ q }}'));
    await put(key, promptFile(name, 'Second {{ q }}'));
    // The newer event first, the older one after: the older reads the current object again.
    await handler(s3Event([{ bucket, key, sequencer: '0A2' }]), context());
    const late = await handler(s3Event([{ bucket, key, sequencer: '0A1' }]), context());
    expect(late.results[0]).toMatchObject({ status: 'unchanged' });
    const staging = await registry.resolveAlias(name, 'staging');
    expect(staging.template).toBe('Second {{ q }}');
    // Both in one batch: only the newest record of the key is processed.
    const both = await handler(
      s3Event([
        { bucket, key, sequencer: '0B2' },
        { bucket, key, sequencer: '0B1' },
      ]),
      context(),
    );
    expect(both.results).toHaveLength(1);
  });

  it('decodes URL-encoded keys as S3 sends them', async () => {
    const name = uniqueName('spaces');
    const key = `prompts/${name} copy.md`;
    await put(key, promptFile(name, 'Hi {{ q }}'));
    const summary = await (await handlerFor(secretId))(s3Event([{ bucket, key }]), context());
    expect(summary.results[0]).toMatchObject({ key, status: 'created' });
  });

  it('ignores removals and keys outside the prefix, without failing', async () => {
    const summary = await (await handlerFor(secretId))(
      s3Event([
        { bucket, key: 'prompts/x.md', eventName: 'ObjectRemoved:Delete' },
        { bucket, key: 'other/y.md' },
        { bucket, key: 'prompts/readme.txt' },
        { bucket, key: 'prompts/team/x.md' },
      ]),
      context(),
    );
    expect(summary).toEqual({ results: [], ignored: 4 });
    expect(logs.filter((l) => l.includes('"upload ignored"')).length).toBeGreaterThanOrEqual(4);
    expect(logs.some((l) => l.includes('prompt files must be directly under it'))).toBe(true);
  });
});

describe('register function, bad input (nothing written, a clear reason)', () => {
  /** The reason the file was refused: permanently, the invocation not failed (no retry could cure it). */
  async function failureOf(key: string, body?: string | Uint8Array): Promise<string> {
    if (body !== undefined) await put(key, body);
    const summary = await (await handlerFor(secretId))(s3Event([{ bucket, key }]), context());
    const [failed] = summary.results;
    expect(failed).toMatchObject({ status: 'failed', permanent: true });
    return failed?.status === 'failed' ? failed.reason : '';
  }

  it.each([
    ['invalid YAML', '---\nvariables: [q\n---\nx {{ q }}\n', /invalid YAML/],
    ['unknown fields', '---\nvariables: [q]\ncolour: red\n---\nx {{ q }}\n', /unknown field\(s\) 'colour'/],
    ['an empty template', '---\nvariables: []\n---\n\n', /empty/],
    ['undeclared variables', '---\nvariables: []\n---\nx {{ q }}\n', /undeclared variable\(s\) q/],
    ['a message without a role', '---\nvariables: []\nmessages:\n  - content: hi\n---\n', /role/],
    ['a message without content', '---\nvariables: []\nmessages:\n  - role: user\n---\n', /content/],
    ['a template over 100,000 characters', `---\nvariables: []\n---\n${'x'.repeat(100_001)}\n`, /100000/],
    [
      'an invalid prompt name',
      '---\nname: "no spaces allowed"\nvariables: []\n---\nx\n',
      /Invalid prompt name/,
    ],
  ])('refuses %s', async (_label, body, reason) => {
    const name = uniqueName('badinput');
    const key = `prompts/${name}.md`;
    expect(await failureOf(key, body)).toMatch(reason);
    await expect(registry.getPrompt(name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses bytes that are not UTF-8', async () => {
    const bytes = Buffer.concat([Buffer.from('---\nvariables: []\n---\ncaf'), Buffer.from([0xe9, 0x0a])]);
    expect(await failureOf(`prompts/${uniqueName('latin1')}.md`, bytes)).toMatch(/UTF-8/);
  });

  it('refuses a file over the size cap', async () => {
    expect(await failureOf(`prompts/${uniqueName('huge')}.md`, 'x'.repeat(300 * 1024))).toMatch(/limited to/);
  });

  it('reports an object that disappeared before it was read', async () => {
    const key = `prompts/${uniqueName('gone')}.md`;
    await put(key, promptFile('gone', 'x {{ q }}'));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    expect(await failureOf(key)).toMatch(/no longer exists/);
  });
});

describe('secrets', () => {
  it('fails the cold start naming the variable when configuration is missing', () => {
    expect(() => parseRegisterEnv({ PROMPTS_BUCKET: bucket })).toThrow(/PROMPTOPS_SECRET_ID/);
    expect(() =>
      parseRegisterEnv({ PROMPTOPS_SECRET_ID: 's', PROMPTS_BUCKET: bucket, PROMPTOPS_SECRET_TTL_MS: 'soon' }),
    ).toThrow(/PROMPTOPS_SECRET_TTL_MS: expected a positive integer/);
  });

  it('fails clearly on a missing secret, invalid JSON and a wrong shape, naming the secret and field', async () => {
    const key = `prompts/${uniqueName('s')}.md`;
    await put(key, promptFile('s', 'x {{ q }}'));
    const missing = await (await handlerFor('promptops/none'))(s3Event([{ bucket, key }]), context()).catch(
      (e: unknown) => e,
    );
    expect(missing).toMatchObject({
      code: 'INVALID_SECRET',
      message: expect.stringContaining("'promptops/none' does not exist"),
    });

    const notJsonId = `promptops/it/${randomUUID()}`;
    await secretsManager.send(
      new CreateSecretCommand({ Name: notJsonId, SecretString: `{"token": "${TOKEN}"` }),
    );
    const notJson = await (await handlerFor(notJsonId))(s3Event([{ bucket, key }]), context()).catch(
      (e: unknown) => e,
    );
    expect(notJson).toMatchObject({
      code: 'INVALID_SECRET',
      message: expect.stringContaining('not valid JSON'),
    });

    const wrongId = await makeSecret({
      registry: { type: 'mlflow', trackingUri: 'ftp://x', password: PASSWORD },
      extra: TOKEN,
    });
    const wrong = await (await handlerFor(wrongId))(s3Event([{ bucket, key }]), context()).catch(
      (e: unknown) => e,
    );
    expect(wrong).toMatchObject({ code: 'INVALID_SECRET' });
    expect((wrong as Error).message).toMatch(/registry.trackingUri: expected an http\(s\) URL/);
    expect((wrong as Error).message).toMatch(/unknown field\(s\) extra/);
    expect((wrong as Error).message).toMatch(/username/);
    for (const error of [missing, notJson, wrong]) {
      expect(inspect(error, { showHidden: true, depth: null })).not.toContain(TOKEN);
      expect(String((error as Error).message)).not.toContain(PASSWORD);
      expect(String((error as Error).message)).not.toContain(TOKEN);
    }
  });

  it('picks up a rotated secret once the cached one has expired', async () => {
    const port = await freePort();
    const id = await makeSecret({ registry: { type: 'mlflow', trackingUri: `http://127.0.0.1:${port}` } });
    const name = uniqueName('rotate');
    const key = `prompts/${name}.md`;
    await put(key, promptFile(name, 'x {{ q }}'));
    const handler = await handlerFor(id, { PROMPTOPS_SECRET_TTL_MS: '1' });
    await expect(handler(s3Event([{ bucket, key }]), context())).rejects.toBeInstanceOf(RegisterBatchError);
    await secretsManager.send(
      new PutSecretValueCommand({
        SecretId: id,
        SecretString: JSON.stringify({ registry: { type: 'mlflow', trackingUri: mlflowUri } }),
      }),
    );
    await new Promise((r) => setTimeout(r, 5));
    await expect(handler(s3Event([{ bucket, key }]), context())).resolves.toMatchObject({
      results: [expect.objectContaining({ status: 'created' })],
    });
  });

  it('writes no secret value to any log line, on success and failure paths alike', () => {
    expect(logs.length).toBeGreaterThan(10);
    for (const line of logs) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain(PASSWORD);
    }
  });
});
