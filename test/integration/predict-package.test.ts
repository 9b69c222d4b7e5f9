/**
 * The predict function's fallback, taken when it is packaged: with MLFLOW_TRACKING_URI in the
 * packaging environment, the bundle carries what the stage's alias (and pins) served in the
 * registry then, with their versions; checked in the zip that `osls package` writes. The agent's
 * contract (prompts/agent.yaml) is built into the functions that use it, never read from disk.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readContractFile } from '../../lib/agent/contract-file';
import { promptSnapshotSchema } from '../../lib/prompt-loader/snapshot';
import { createRegistryClient } from '../../lib/registry';
import { registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { type PackagedService, packageService, readZip } from '../support/sls-package';

const mlflowUri = inject('mlflowUri');
const naming = uniqueNaming('package');
const workDir = join(process.cwd(), '.cache', `predict-package-${randomBytes(4).toString('hex')}`);
let names: Map<string, string>;
let pkg: PackagedService;

beforeAll(async () => {
  const registry = createRegistryClient({ trackingUri: mlflowUri });
  names = await registerAgentPrompts(registry, naming);
  // The synthesizer's staging moves ahead: a staging stack bundles version 2 of it.
  const synthesizer = names.get('synthesizer') as string;
  const v2 = await registry.registerPrompt({
    name: synthesizer,
    template: 'Combine for {{query}}:\n{{domain_responses}}',
  });
  await registry.setAlias(synthesizer, 'staging', v2.version);
  pkg = await packageService({
    stage: 'snap',
    region: 'eu-west-1',
    outDir: join(workDir, 'out'),
    params: {
      promptNamePrefix: naming.prefix ?? '',
      predictAlias: 'staging',
      predictPromptPins: 'cost_worker=1',
    },
    env: { MLFLOW_TRACKING_URI: mlflowUri },
  });
}, 240_000);

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('packaging the predict function', () => {
  it('bundles what the stage alias serves in the registry, with versions, as the fallback', async () => {
    const zip = pkg.zips.get('predict.zip');
    if (zip === undefined) throw new Error('no predict.zip');
    const dir = join(workDir, 'bundle');
    mkdirSync(dir, { recursive: true });
    for (const entry of readZip(zip))
      writeFileSync(join(dir, entry.name.replace('functions/predict/', '')), entry.read());
    const saved = { ...process.env };
    Object.assign(process.env, { PROMPTOPS_SECRET_ID: 'x', AWS_REGION: 'eu-west-1' });
    let bundle: { bundledSnapshot: unknown };
    try {
      bundle = await import(pathToFileURL(join(dir, 'handler.mjs')).href);
    } finally {
      process.env = saved;
    }
    const snapshot = promptSnapshotSchema.parse(bundle.bundledSnapshot);
    expect(snapshot.source).toBe('registry');
    // Where it was read, so the function can tell it from another registry's.
    expect(snapshot.registry).toBe(mlflowUri);
    expect(snapshot.entries).toHaveLength(8);
    expect(snapshot.entries.find((e) => e.key === 'synthesizer')).toMatchObject({
      name: names.get('synthesizer'),
      version: 2,
      alias: 'staging',
      template: 'Combine for {{query}}:\n{{domain_responses}}',
    });
    expect(snapshot.entries.find((e) => e.key === 'cost_worker')).toMatchObject({ version: 1, alias: null });
    expect(pkg.output).toMatch(/prompt snapshot: .*snapshot of/s);
  });

  it("builds the agent's contract into the functions that use it, as prompts/agent.yaml has it", () => {
    const contract = { ...readContractFile(join('prompts', 'agent.yaml')), source: 'prompts/agent.yaml' };
    // The contract as the minified bundles spell it.
    const literal = /^x\((.*)\);\s*$/s.exec(
      transformSync(`x(${JSON.stringify(contract)})`, { minify: true }).code,
    )?.[1];
    expect(literal).toBeDefined();
    for (const zip of ['predict.zip', 'promote.zip']) {
      const path = pkg.zips.get(zip);
      if (path === undefined) throw new Error(`no ${zip}`);
      const entries = readZip(path);
      expect(entries.map((e) => e.name).filter((name) => name.endsWith('.yaml'))).toEqual([]);
      const handler = entries.find((e) => e.name.endsWith('handler.mjs'));
      expect(handler?.read().toString('utf8')).toContain(literal);
    }
  });
});
