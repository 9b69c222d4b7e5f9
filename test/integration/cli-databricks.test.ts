/**
 * The CLI on Unity Catalog, configured as MLflow's users configure it: `MLFLOW_TRACKING_URI=databricks`
 * with the DATABRICKS_* variables (a personal access token), or `databricks://<profile>` naming a
 * `.databrickscfg` profile (a service principal). Every command that talks to the registry
 * (register, show, format, snapshot, verify, predict) against the Databricks contract server. The
 * promote commands go through the deployed API and are registry-agnostic (databricks-functions).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptSnapshotSchema } from '../../lib/prompt-loader/snapshot';
import { STANDIN_LABEL } from '../../local/model-standin';
import { runCli } from '../support/cli';
import { type DatabricksContract, startDatabricksContract } from '../support/databricks-contract/server';

const PAT = `dapi-${randomUUID().replaceAll('-', '')}`;
const CLIENT_ID = 'sp-cli';
const CLIENT_SECRET = `sp-cli-secret-${randomUUID()}`;
const ENDPOINT = 'databricks-claude-sonnet-4';
const schema = `cli_${randomUUID().slice(0, 8)}`;
const uc = (short: string) => `main.${schema}.prompt_${short}`;

let contract: DatabricksContract;
let patEnv: NodeJS.ProcessEnv;
let profileEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  contract = await startDatabricksContract({
    pats: [PAT],
    clients: { [CLIENT_ID]: CLIENT_SECRET },
    servingEndpoints: [ENDPOINT],
  });
  const cfg = join(mkdtempSync(join(tmpdir(), 'promptops-cfg-')), '.databrickscfg');
  writeFileSync(
    cfg,
    `[DEFAULT]\nhost = https://unused.example.net\ntoken = dapi-unused\n\n[ci]\nhost = ${contract.url}\nclient_id = ${CLIENT_ID}\nclient_secret = ${CLIENT_SECRET}\n`,
  );
  const common = {
    PROMPT_CATALOG: 'main',
    PROMPT_SCHEMA: schema,
    MLFLOW_EXPERIMENT_NAME: '/Shared/promptops',
  };
  patEnv = {
    ...common,
    MLFLOW_TRACKING_URI: 'databricks',
    DATABRICKS_HOST: contract.url,
    DATABRICKS_TOKEN: PAT,
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
  };
  profileEnv = { ...common, MLFLOW_TRACKING_URI: 'databricks://ci', DATABRICKS_CONFIG_FILE: cfg };
});
afterAll(() => contract?.close());

describe('promptops on Unity Catalog, with a token in the variables', () => {
  it('register writes the prompt files as Unity Catalog prompts', async () => {
    const { code, stdout, stderr } = await runCli(['register', 'prompts'], patEnv);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(uc('orchestrator'));
    expect((await runCli(['register', 'prompts'], patEnv)).stdout).toMatch(/unchanged/);
  });

  it('show and format read them back', async () => {
    const shown = await runCli(['show', `prompts:/${uc('orchestrator')}@production`, '--json'], patEnv);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      name: uc('orchestrator'),
      version: 1,
      aliases: ['production', 'staging'],
    });
    const formatted = await runCli(
      ['format', `prompts:/${uc('intent_classifier')}@production`, '--var', 'query=why so slow?'],
      patEnv,
    );
    expect(formatted.code).toBe(0);
    expect(formatted.stdout).toContain('why so slow?');
  });

  it('verify passes, and snapshot reads the registry', async () => {
    const verified = await runCli(['verify', '--json'], patEnv);
    expect(verified.stderr).toBe('');
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
    const snapshot = await runCli(['snapshot', '--require-registry'], patEnv);
    expect(snapshot.code).toBe(0);
    const taken = promptSnapshotSchema.parse(JSON.parse(snapshot.stdout));
    expect(taken.source).toBe('registry');
    expect(taken.entries.find((e) => e.key === 'orchestrator')).toMatchObject({
      name: uc('orchestrator'),
      version: 1,
      alias: 'production',
    });
    // The content hash the register command recorded, read back through its underscored key.
    expect(taken.entries.every((e) => e.contentHash?.startsWith('sha256:'))).toBe(true);
  });

  it('predict answers with a serving endpoint as the model and links to the workspace UI', async () => {
    const { code, stdout, stderr } = await runCli(
      ['predict', 'Why did our cost rise?', '--model', ENDPOINT],
      patEnv,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(STANDIN_LABEL);
    expect(stdout).toContain(`${contract.url}/ml/experiments/1001/traces?selectedEvaluationId=tr-`);
    const traceId = /selectedEvaluationId=(tr-[0-9a-f]{32})/.exec(stdout)?.[1] as string;
    expect(contract.traces.traces.get(traceId)?.data?.spans.length).toBeGreaterThan(1);
    expect(contract.prompts.traceLinks.get(traceId)?.size).toBeGreaterThan(1);
  });
});

describe('promptops on Unity Catalog, with a service principal from a profile (databricks://ci)', () => {
  it('verify and show work with one OAuth token per command', async () => {
    const before = contract.tokensIssued;
    const verified = await runCli(['verify', '--json'], profileEnv);
    expect(verified.stderr).toBe('');
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
    expect(contract.tokensIssued - before).toBe(1);
    const shown = await runCli(['show', uc('synthesizer'), '--json'], profileEnv);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: uc('synthesizer') });
    expect(contract.log.at(-1)?.auth).toBe('bearer oauth');
  });

  it('names a missing profile and never prints a secret', async () => {
    const { code, stderr } = await runCli(['verify'], {
      ...profileEnv,
      MLFLOW_TRACKING_URI: 'databricks://nope',
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/profile 'nope'/);
    expect(stderr).not.toContain(CLIENT_SECRET);
  });
});
