/**
 * Interop with MLflow's own Python SDK on Unity Catalog, both ways. The SDK is configured as for
 * a workspace (`MLFLOW_TRACKING_URI=databricks`, `MLFLOW_REGISTRY_URI=databricks-uc`,
 * `DATABRICKS_HOST` and a token or a service principal) and pointed at the Databricks contract
 * server; so is this client. Each write is compared request for request with what the SDK sent
 * for the same input (register, set alias, load); each prompt one writes, the other reads the same.
 * This proves agreement with MLflow's SDK, not with a workspace (README, "Databricks").
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { m2mCredentials, patCredentials } from '../../lib/databricks/credentials';
import { createDatabricksRegistryClient } from '../../lib/databricks/registry';
import { formatTemplate } from '../../lib/prompts/template';
import type { RegistryClient } from '../../lib/registry';
import {
  type DatabricksContract,
  type LoggedRequest,
  startDatabricksContract,
} from '../support/databricks-contract/server';
import { expectSameAsPython, type InteropCase, type PythonPrompt, sdkInput } from '../support/interop';
import { type Oracle, startOracle } from '../support/oracle';

const PAT = 'dapi-interop-pat-0123456789';
const CLIENT_ID = 'sp-interop';
const CLIENT_SECRET = 'sp-interop-secret-0123456789';

const CASES: readonly InteropCase[] = [
  {
    label: 'text',
    template: 'Summarise {{ text }} for {{audience}}.',
    values: { text: 'T', audience: 'ops' },
  },
  {
    label: 'chat',
    template: [
      { role: 'system', content: 'You are {{ persona }}.' },
      { role: 'user', content: 'Question: {{question}}' },
    ],
    values: { persona: 'terse', question: 'why?' },
  },
  {
    label: 'metadata',
    template: 'Classify {{ query }} as JSON: {"domains": ["cost"]}',
    values: { query: 'q' },
    commitMessage: 'with everything',
    tags: { team: 'platform', owner_email: 'ml@example.com' },
    modelConfig: { model_name: 'databricks-claude', temperature: 1, max_tokens: 256, seed: 7 },
    responseFormat: { type: 'object', properties: { domains: { type: 'array', items: { type: 'string' } } } },
  },
  {
    label: 'unicode',
    template: [{ role: 'user', content: 'Héllo {{ name }} ✓ 😀 — “quoted” \\ backslash\ttab' }],
    values: { name: 'Zoë 🚀' },
    tags: { note: 'ünïcode ✓' },
  },
];

let contract: DatabricksContract;
let registry: RegistryClient;
let oracle: Oracle;

const sdkEnv = (contractUrl: string, credentials: Record<string, string>) => ({
  MLFLOW_TRACKING_URI: 'databricks',
  MLFLOW_REGISTRY_URI: 'databricks-uc',
  DATABRICKS_HOST: contractUrl,
  DATABRICKS_TOKEN: '',
  DATABRICKS_CLIENT_ID: '',
  DATABRICKS_CLIENT_SECRET: '',
  DATABRICKS_CONFIG_PROFILE: '',
  MLFLOW_TRACKING_TOKEN: '',
  MLFLOW_DISABLE_TELEMETRY: 'true',
  DO_NOT_TRACK: 'true',
  // No ~/.databrickscfg of the machine's: the variables alone.
  HOME: mkdtempSync(join(tmpdir(), 'promptops-sdk-home-')),
  ...credentials,
});

beforeAll(async () => {
  contract = await startDatabricksContract({ pats: [PAT], clients: { [CLIENT_ID]: CLIENT_SECRET } });
  registry = createDatabricksRegistryClient({
    credentials: patCredentials(contract.url, PAT),
    catalog: 'main',
    schema: 'interop',
  });
  oracle = startOracle(undefined, sdkEnv(contract.url, { DATABRICKS_TOKEN: PAT }));
});
afterAll(async () => {
  await oracle?.close();
  await contract?.close();
});

const ucName = (label: string) => `main.interop.${label.replace(/\W/g, '')}_${randomUUID().slice(0, 8)}`;

/** The API requests about one prompt since `from`, its name replaced, so two prompts' requests compare. */
function requestsFor(name: string, from: number): Omit<LoggedRequest, 'userAgent' | 'auth'>[] {
  const swap = (text: string) => text.split(name).join('<name>');
  return contract.log
    .slice(from)
    .filter((r) => r.path.includes(name) || JSON.stringify(r.body ?? {}).includes(name))
    .map(({ userAgent: _u, auth: _a, ...r }) => JSON.parse(swap(JSON.stringify(r))));
}

const isWrite = (r: { method: string }) => r.method !== 'GET';

describe('this client writes, MLflow Python reads; the writes are the requests the SDK sends', () => {
  it.each(CASES)('$label', async (c) => {
    const ours = ucName(`ts_${c.label}`);
    const theirs = ucName(`py_${c.label}`);

    let mark = contract.log.length;
    const written = await registry.registerPrompt({
      name: ours,
      template: c.template,
      commitMessage: c.commitMessage,
      tags: c.tags,
      modelConfig: c.modelConfig,
      responseFormat: c.responseFormat,
    });
    await registry.setAlias(ours, 'production', written.version);
    const ourWrites = requestsFor(ours, mark).filter(isWrite);

    mark = contract.log.length;
    await oracle.call('register', { name: theirs, ...sdkInput(c) });
    await oracle.call('set_alias', { name: theirs, alias: 'production', version: 1 });
    const theirWrites = requestsFor(theirs, mark).filter(isWrite);
    // CreatePrompt, CreatePromptVersion, SetPromptAlias: the same bodies to the same paths.
    expect(ourWrites.map((r) => r.path)).toEqual(theirWrites.map((r) => r.path));
    expect(ourWrites).toEqual(theirWrites);

    // Loading by alias: the same request.
    mark = contract.log.length;
    const python = await oracle.call<PythonPrompt>('load', { uri: `prompts:/${ours}@production` });
    const theirLoad = requestsFor(ours, mark)[0];
    mark = contract.log.length;
    const loaded = await registry.loadPrompt(`prompts:/${ours}@production`);
    expect(requestsFor(ours, mark)).toEqual([theirLoad]);

    expectSameAsPython(loaded, python);
    expectSameAsPython({ ...written, aliases: ['production'] }, python);
    expect(await oracle.call('format', { uri: `prompts:/${ours}/1`, values: c.values })).toEqual(
      formatTemplate(c.template, c.values),
    );
  });
});

describe('MLflow Python writes, this client reads', () => {
  it.each(CASES)('$label', async (c) => {
    const name = ucName(`py2ts_${c.label}`);
    await oracle.call('register', { name, ...sdkInput(c) });
    await oracle.call('set_alias', { name, alias: 'staging', version: 1 });
    const python = await oracle.call<PythonPrompt>('load', { uri: `prompts:/${name}@staging` });
    const ours = await registry.loadPrompt(`prompts:/${name}@staging`);
    expectSameAsPython(ours, python);
    expect(formatTemplate(ours.template, c.values)).toEqual(
      await oracle.call('format', { uri: `prompts:/${name}@staging`, values: c.values }),
    );
  });
});

describe('with a service principal on both sides (OAuth M2M)', () => {
  it('the SDK registers with its token, this client reads with its own', async () => {
    const m2mOracle = startOracle(
      undefined,
      sdkEnv(contract.url, { DATABRICKS_CLIENT_ID: CLIENT_ID, DATABRICKS_CLIENT_SECRET: CLIENT_SECRET }),
    );
    try {
      const name = ucName('m2m');
      const mark = contract.log.length;
      await m2mOracle.call('register', { name, ...sdkInput(CASES[0] as InteropCase) });
      const sdkToken = contract.log.slice(mark).find((r) => r.path === '/oidc/v1/token');
      expect(sdkToken?.body).toEqual({ grant_type: 'client_credentials', scope: 'all-apis' });
      const sdkRequests = contract.log.slice(mark).filter((r) => r.path.includes(name));
      expect(sdkRequests.length).toBeGreaterThanOrEqual(2);
      expect(sdkRequests.map((r) => r.auth)).toEqual(sdkRequests.map(() => 'bearer oauth'));

      const ours = createDatabricksRegistryClient({
        credentials: m2mCredentials({ host: contract.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
      });
      const from = contract.log.length;
      await expect(ours.loadPrompt(`prompts:/${name}/1`)).resolves.toMatchObject({
        template: (CASES[0] as InteropCase).template,
      });
      const ourToken = contract.log.slice(from).find((r) => r.path === '/oidc/v1/token');
      // Our token request is the SDK's: same form, same endpoint.
      expect(ourToken?.body).toEqual(sdkToken?.body);
      expect(contract.log.at(-1)?.auth).toBe('bearer oauth');
    } finally {
      await m2mOracle.close();
    }
  });
});
