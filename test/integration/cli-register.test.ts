/**
 * `promptops register` against a real MLflow server (and moto's Secrets Manager for
 * `--secret-id`). Writes are counted by a proxy in front of MLflow: every read is a GET.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { runCli } from '../support/cli';
import { startForwardingProxy } from '../support/forwarding-proxy';
import { uniqueName } from '../support/names';
import { awsEnvFor } from '../support/servers';

const uri = inject('mlflowUri');
const motoUri = inject('motoUri');

const cli = (argv: string[], env: NodeJS.ProcessEnv = { MLFLOW_TRACKING_URI: uri }, isTTY = false) =>
  runCli(argv, env, isTTY);

interface CountingProxy {
  readonly url: string;
  /** Requests that are not GET: every registry write is a POST or a DELETE. */
  readonly writes: number;
  readonly requests: number;
  close(): Promise<void>;
}

async function startCountingProxy(target: string): Promise<CountingProxy> {
  let writes = 0;
  let requests = 0;
  const proxy = await startForwardingProxy(target, (req) => {
    requests += 1;
    if (req.method !== 'GET') writes += 1;
    return undefined;
  });
  return {
    url: proxy.url,
    get writes() {
      return writes;
    },
    get requests() {
      return requests;
    },
    close: () => proxy.close(),
  };
}

const TEXT_A = `---
description: Answers a question.
variables: [q]
tags: { team: a }
---
Answer the question.

Question: {{ q }}
Be brief.
`;

const TEXT_B = `---
variables: [query, context]
model_config: { temperature: 0.2 }
---
You are a helpful analyst.

Use the context below.
Context: {{ context }}

User Query: {{ query }}
Answer in three sentences.
`;

const CHAT_C = `---
variables: [topic]
messages:
  - { role: system, content: "You explain {{ topic }}." }
  - { role: user, content: "Explain {{ topic }} in one paragraph." }
---
`;

async function promptDir(files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'promptops-register-'));
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

let registry: RegistryClient;
let proxy: CountingProxy;

beforeAll(async () => {
  registry = createRegistryClient({ trackingUri: uri });
  proxy = await startCountingProxy(uri);
});

afterAll(async () => {
  await proxy.close();
});

describe('promptops register: a directory, again, changed, dry run', () => {
  let dir: string;
  let prefix: string;
  const name = (short: string) => `${prefix}${short}`;

  beforeAll(async () => {
    dir = await promptDir({
      'a.md': TEXT_A,
      'b.md': TEXT_B,
      'c.md': CHAT_C,
      'README.md': '# not a prompt\n',
    });
    prefix = `${uniqueName('reg')}.`;
  });

  it('registers every prompt: version 1, staging and production', async () => {
    const { code, stdout, stderr } = await cli(['register', dir, '--prefix', prefix]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    for (const short of ['a', 'b', 'c']) {
      expect(stdout).toMatch(
        new RegExp(
          `${name(short).replaceAll('.', '\\.')}\\s+created\\s+v1\\s+staging -> v1, production -> v1`,
        ),
      );
    }
    expect(stdout).toContain('3 created, 0 unchanged, 0 failed');
    expect((await registry.getPrompt(name('c'))).aliases).toEqual({ staging: 1, production: 1 });
    expect((await registry.resolveAlias(name('c'), 'production')).template).toEqual([
      { role: 'system', content: 'You explain {{ topic }}.' },
      { role: 'user', content: 'Explain {{ topic }} in one paragraph.' },
    ]);
  });

  it('registers nothing the second time: all unchanged, no write', async () => {
    const before = proxy.writes;
    const { code, stdout } = await cli(['register', dir, '--prefix', prefix], {
      MLFLOW_TRACKING_URI: proxy.url,
    });
    expect(code).toBe(0);
    expect(stdout).toContain('0 created, 3 unchanged, 0 failed');
    expect(stdout).toMatch(/unchanged\s+v1\s+-\n/);
    expect(proxy.writes).toBe(before);
  });

  it('--dry-run shows the new version with a diff of the template, and writes nothing', async () => {
    await writeFile(
      join(dir, 'b.md'),
      TEXT_B.replace('Answer in three sentences.', 'Answer in two sentences.\nCite the context.'),
    );
    const writes = proxy.writes;
    const requests = proxy.requests;
    const { code, stdout, stderr } = await cli(['register', dir, '--prefix', prefix, '--dry-run'], {
      MLFLOW_TRACKING_URI: proxy.url,
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(proxy.requests).toBeGreaterThan(requests);
    expect(proxy.writes).toBe(writes);
    expect(stdout).toMatch(
      new RegExp(`${name('b').replaceAll('.', '\\.')}\\s+new version \\(latest v1\\)\\s+staging v1 -> v2`),
    );
    expect(stdout).toMatch(/unchanged \(v1\)\s+-\n/);
    expect(stdout).toContain(
      [
        `--- ${name('b')} v1`,
        `+++ ${join(dir, 'b.md')}`,
        '@@ -4,4 +4,5 @@',
        ' Context: {{ context }}',
        ' ',
        ' User Query: {{ query }}',
        '-Answer in three sentences.',
        '+Answer in two sentences.',
        '+Cite the context.',
      ].join('\n'),
    );
    expect(stdout).toContain(
      'dry run: 0 new prompt(s), 1 new version(s), 2 unchanged, 0 failed; nothing was written.',
    );
    const latest = await registry.resolveAlias(name('b'), 'latest');
    expect(latest.version).toBe(1);
    expect((await registry.getPrompt(name('b'))).aliases).toEqual({ staging: 1, production: 1 });
  });

  it('then registers only the changed prompt, moving staging and leaving production', async () => {
    const { code, stdout } = await cli(['register', dir, '--prefix', prefix]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      new RegExp(`${name('b').replaceAll('.', '\\.')}\\s+created\\s+v2\\s+staging v1 -> v2\n`),
    );
    expect(stdout).toContain('1 created, 2 unchanged, 0 failed');
    expect((await registry.getPrompt(name('b'))).aliases).toEqual({ staging: 2, production: 1 });
  });

  it('--dry-run of a new prompt says so and creates nothing', async () => {
    const other = `${uniqueName('dry')}.`;
    const { code, stdout } = await cli(['register', join(dir, 'c.md'), '--prefix', other, '--dry-run']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/new prompt\s+staging -> v1, production -> v1\n/);
    expect(stdout).toContain('dry run: 1 new prompt(s), 0 new version(s), 0 unchanged, 0 failed');
    await expect(registry.getPrompt(`${other}c`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('warns of {name} in single braces, which MLflow does not see as a variable, and registers as written', async () => {
    const other = `${uniqueName('braces')}.`;
    const single = await promptDir({
      'b.md': '---\nvariables: []\n---\nAnswer {query} for {{user}} or {{ x }}\n',
    });
    const { code, stderr } = await cli(['register', single, '--prefix', other, '--dry-run']);
    // {{user}} is refused (undeclared); the file with only single braces registers.
    expect(code).toBe(1);
    const ok = await promptDir({ 'b.md': '---\nvariables: []\n---\nAnswer {query} in {lang}\n' });
    const run = await cli(['register', ok, '--prefix', other, '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      `promptops: warning: ${join(ok, 'b.md')} has {query}, {lang} in single braces: MLflow's variables are {{name}}, so they are plain text to it.\n`,
    );
    expect(stderr).not.toContain('{user}');
  });

  it('--dry-run says when only the tags or model config changed', async () => {
    const other = `${uniqueName('tags')}.`;
    const single = await promptDir({ 'a.md': TEXT_A });
    expect((await cli(['register', single, '--prefix', other])).code).toBe(0);
    await writeFile(join(single, 'a.md'), TEXT_A.replace('team: a', 'team: b'));
    const { code, stdout } = await cli(['register', single, '--prefix', other, '--dry-run']);
    expect(code).toBe(0);
    expect(stdout).toContain(
      `${other}a: new version (latest v1)\n(the template is the same; the tags, model config or response format differ)`,
    );
  });

  it('shows progress on a terminal, one line per prompt as it completes', async () => {
    const { code, stderr } = await cli(
      ['register', dir, '--prefix', prefix, '--concurrency', '2'],
      undefined,
      true,
    );
    expect(code).toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l.slice(0, 6)).sort()).toEqual(['[1/3] ', '[2/3] ', '[3/3] ']);
    expect(lines.every((l) => / unchanged v[12]$/.test(l))).toBe(true);
  });
});

describe('promptops register: failures', () => {
  it('reports a bad file with its reason, registers the others, exits 1', async () => {
    const dir = await promptDir({
      'good1.md': TEXT_A,
      'bad.md': '---\nvariables: [q]\n---\nHello {{ name }}\n',
      'good2.md': CHAT_C,
    });
    const prefix = `${uniqueName('bad')}.`;
    const { code, stdout, stderr } = await cli(['register', dir], {
      MLFLOW_TRACKING_URI: uri,
      PROMPT_NAME_PREFIX: prefix,
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `^promptops: INVALID_PROMPT_FILE: ${join(dir, 'bad.md')}: .*undeclared variable\\(s\\) name.*\n$`,
      ),
    );
    expect(stdout).toMatch(new RegExp(`${join(dir, 'bad.md')}\\s+failed\\s+-\\s+-\n`));
    expect(stdout).toContain('2 created, 0 unchanged, 1 failed');
    expect((await registry.resolveAlias(`${prefix}good1`, 'production')).version).toBe(1);
    expect((await registry.resolveAlias(`${prefix}good2`, 'staging')).version).toBe(1);
  });

  it('lists a failed registration without stopping the others', async () => {
    const prefix = `${uniqueName('fail')}.`;
    // A registered model (not a prompt) under one of the names: MLflow keeps that name taken.
    const taken = await fetch(`${uri}/api/2.0/mlflow/registered-models/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${prefix}good1` }),
    });
    expect(taken.ok).toBe(true);
    const dir = await promptDir({ 'good1.md': TEXT_A, 'good2.md': TEXT_B });
    const { code, stdout, stderr } = await cli(['register', dir, '--prefix', prefix]);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `promptops: INVALID_INPUT: ${prefix}good1 (${join(dir, 'good1.md')}): ` +
        `'${prefix}good1' is registered as a model, not a prompt.\n`,
    );
    expect(stdout).toMatch(new RegExp(`${prefix.replaceAll('.', '\\.')}good1\\s+failed`));
    expect(stdout).toContain('1 created, 0 unchanged, 1 failed');
    expect((await registry.getPrompt(`${prefix}good2`)).aliases).toEqual({ staging: 1, production: 1 });
  });

  it('reports a path that does not exist', async () => {
    const { code, stderr } = await cli(['register', '/nonexistent/prompts']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^promptops: INVALID_PROMPT_FILE: \/nonexistent\/prompts: no such file/);
  });

  it('fails on a directory without prompt files', async () => {
    const dir = await promptDir({ 'README.md': '# nothing\n' });
    const { code, stderr } = await cli(['register', dir]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/no prompt files/);
  });

  it.each([
    [['register', 'prompts'], {}, /MLFLOW_TRACKING_URI.*--secret-id/],
    [
      ['register', '--concurrency', '0'],
      { MLFLOW_TRACKING_URI: uri },
      /--concurrency expects a positive integer/,
    ],
    [['register', '--catalog', 'main'], { MLFLOW_TRACKING_URI: uri }, /catalog and the schema/],
    [['register', '--secret-id', 's', '--tracking-uri', uri], {}, /either --tracking-uri or --secret-id/],
    [['register', '--bogus'], { MLFLOW_TRACKING_URI: uri }, /bogus/],
  ])('%j is a usage error (exit 2)', async (argv, env, message) => {
    const { code, stdout, stderr } = await cli(argv, env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });
});

describe('promptops register --secret-id', () => {
  const awsEnv = awsEnvFor(motoUri);
  const saved = new Map<string, string | undefined>();
  const secretId = `promptops/cli-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    // The AWS SDK reads its region, endpoint and credentials from process.env, as in Lambda.
    for (const [key, value] of Object.entries(awsEnv)) {
      saved.set(key, process.env[key]);
      process.env[key] = value;
    }
    const secrets = new SecretsManagerClient({});
    await secrets.send(
      new CreateSecretCommand({
        Name: secretId,
        SecretString: JSON.stringify({ registry: { type: 'mlflow', trackingUri: uri } }),
      }),
    );
    secrets.destroy();
  });

  afterAll(() => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('reads the registry from the secret and registers', async () => {
    const dir = await promptDir({ 'a.md': TEXT_A, 'c.md': CHAT_C });
    const prefix = `${uniqueName('secret')}.`;
    const { code, stdout, stderr } = await cli(
      ['register', dir, '--secret-id', secretId, '--prefix', prefix],
      {
        ...awsEnv,
      },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('2 created, 0 unchanged, 0 failed');
    expect((await registry.getPrompt(`${prefix}a`)).aliases).toEqual({ staging: 1, production: 1 });

    const again = await cli(['register', dir, '--secret-id', secretId, '--prefix', prefix, '--dry-run'], {
      ...awsEnv,
    });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 new prompt(s), 0 new version(s), 2 unchanged');
  });

  it('fails with one line when the secret does not exist', async () => {
    const dir = await promptDir({ 'a.md': TEXT_A });
    const { code, stderr } = await cli(['register', dir, '--secret-id', 'promptops/no-such-secret'], {
      ...awsEnv,
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^promptops: INVALID_SECRET: Secret 'promptops\/no-such-secret' does not exist\.\n$/,
    );
  });
});
