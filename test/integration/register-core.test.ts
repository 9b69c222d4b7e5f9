/** The registration core against a real MLflow server. */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { historyTag, parseHistory, rollbackTarget } from '../../lib/promote/history';
import { MOVED_TAG_PREFIX } from '../../lib/promote/move-alias';
import { type PromptFile, parsePromptFile } from '../../lib/prompts/file';
import { CONTENT_HASH_TAG } from '../../lib/register/content-hash';
import { registerPromptFile } from '../../lib/register/register-prompt-file';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { uniqueName } from '../support/names';
import { type Oracle, startOracle } from '../support/oracle';

const uri = inject('mlflowUri');
let registry: RegistryClient;

beforeAll(() => {
  registry = createRegistryClient({ trackingUri: uri });
});

function promptFile(name: string, body: string, extra = ''): PromptFile {
  return parsePromptFile(`prompts/${name}.md`, `---\nname: ${name}\nvariables: [q]\n${extra}---\n${body}\n`);
}

describe('registerPromptFile', () => {
  it('creates version 1 and points staging and production at it on first registration', async () => {
    const name = uniqueName('first');
    const outcome = await registerPromptFile(
      registry,
      promptFile(name, 'Answer {{ q }}', 'tags: {team: a}\n'),
    );
    expect(outcome).toMatchObject({ name, status: 'created', version: 1 });
    expect(outcome.aliasesMoved).toEqual([
      { alias: 'staging', version: 1, previousVersion: undefined },
      { alias: 'production', version: 1, previousVersion: undefined },
    ]);
    const prompt = await registry.getPrompt(name);
    expect(prompt.aliases).toEqual({ staging: 1, production: 1 });
    const v1 = await registry.getPromptVersion(name, 1);
    expect(v1.tags).toMatchObject({ team: 'a', [CONTENT_HASH_TAG]: outcome.contentHash });
  });

  it('writes nothing and reads once when the content is unchanged', async () => {
    const name = uniqueName('same');
    await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'));
    const counting = createRegistryClient({ trackingUri: uri });
    const again = await registerPromptFile(counting, promptFile(name, 'Answer {{ q }}'));
    expect(again).toMatchObject({ status: 'unchanged', version: 1, aliasesMoved: [] });
    expect(counting.requestCount).toBe(1);
  });

  it('spends one read and only the necessary writes', async () => {
    const name = uniqueName('cost');
    const first = createRegistryClient({ trackingUri: uri });
    await registerPromptFile(first, promptFile(name, 'Answer {{ q }}', 'tags: {team: a}\n'));
    // read; create prompt; create version; then each of staging and production an audited move:
    // read it under its lock, set it, write its history, tag the version
    expect(first.requestCount).toBe(3 + 2 * 4);
    const second = createRegistryClient({ trackingUri: uri });
    await registerPromptFile(second, promptFile(name, 'Answer well {{ q }}', 'tags: {team: a}\n'));
    // read; create version; move staging
    expect(second.requestCount).toBe(2 + 4);
    // The prompt carries the file's tags (and its aliases' histories); provenance and hashes stay
    // on the versions.
    const tags = (await registry.getPrompt(name)).tags;
    expect(Object.keys(tags).sort()).toEqual(
      ['team', historyTag('production'), historyTag('staging')].sort(),
    );
    expect(tags.team).toBe('a');
  });

  it('registers changed content as a new version, moves staging, leaves production', async () => {
    const name = uniqueName('change');
    await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'));
    const changed = await registerPromptFile(registry, promptFile(name, 'Answer briefly: {{ q }}'));
    expect(changed).toMatchObject({ status: 'created', version: 2 });
    expect(changed.aliasesMoved).toEqual([{ alias: 'staging', version: 2, previousVersion: 1 }]);
    expect((await registry.getPrompt(name)).aliases).toEqual({ staging: 2, production: 1 });
  });

  it('gives a new prompt its production when an earlier run stopped after moving staging', async () => {
    const name = uniqueName('heal-prod');
    await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'));
    await registry.deleteAlias(name, 'production');
    const healed = await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'));
    expect(healed).toMatchObject({ status: 'unchanged', version: 1 });
    expect(healed.aliasesMoved).toEqual([{ alias: 'production', version: 1, previousVersion: undefined }]);
    expect((await registry.getPrompt(name)).aliases).toEqual({ staging: 1, production: 1 });
  });

  it('moves staging back onto unchanged content when an earlier run stopped before doing so', async () => {
    const name = uniqueName('heal');
    await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'));
    await registry.deleteAlias(name, 'staging');
    const healed = await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'));
    expect(healed).toMatchObject({ status: 'unchanged', version: 1 });
    expect(healed.aliasesMoved).toEqual([{ alias: 'staging', version: 1, previousVersion: undefined }]);
  });

  it("records every alias move it makes in the alias's history, by whoever registered", async () => {
    const name = uniqueName('history');
    const now = () => new Date('2026-12-06T09:00:00.000Z');
    await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'), {
      by: 's3-upload:AWS:AIDAUPLOADER',
      now,
    });
    await registerPromptFile(registry, promptFile(name, 'Answer well {{ q }}'), { now });
    const prompt = await registry.getPrompt(name);
    const staging = parseHistory(prompt.tags[historyTag('staging')]);
    expect(staging.damaged).toBe(false);
    expect(staging.entries).toEqual([
      {
        action: 'register',
        version: 1,
        previousVersion: null,
        by: 's3-upload:AWS:AIDAUPLOADER',
        at: now().toISOString(),
      },
      { action: 'register', version: 2, previousVersion: 1, by: 'register', at: now().toISOString() },
    ]);
    expect(parseHistory(prompt.tags[historyTag('production')]).entries).toEqual([
      {
        action: 'register',
        version: 1,
        previousVersion: null,
        by: 's3-upload:AWS:AIDAUPLOADER',
        at: now().toISOString(),
      },
    ]);
    // As a promotion does, the version says which alias it was moved onto, by whom.
    expect(
      JSON.parse((await registry.getPromptVersion(name, 2)).tags[`${MOVED_TAG_PREFIX}staging`] ?? '{}'),
    ).toMatchObject({
      action: 'register',
      by: 'register',
    });
    // A rollback of staging goes back over the upload's move, like over a promotion.
    expect(rollbackTarget(staging.entries, 2)).toBe(1);
  });
});

describe('registerPromptFile lists the prompt on the experiment, as MLflow does on registration', () => {
  let oracle: Oracle;
  beforeAll(() => {
    oracle = startOracle(uri);
  });
  afterAll(async () => {
    await oracle.close();
  });

  it('creates a new prompt already listed on the experiment, with no extra request', async () => {
    const name = uniqueName('listed');
    const counting = createRegistryClient({ trackingUri: uri });
    await registerPromptFile(counting, promptFile(name, 'Answer {{ q }}', 'tags: {team: a}\n'), {
      experimentId: '0',
    });
    // As without the experiment: the listing rides on the prompt's creation.
    expect(counting.requestCount).toBe(3 + 2 * 4);
    expect((await registry.getPrompt(name)).tags).toMatchObject({ team: 'a', _mlflow_experiment_ids: ',0,' });
    // MLflow's SDK rewrites `experiment_id = '0'` to this tag; the UI's experiment page does the same.
    expect(await oracle.call('search_prompts_in_experiment', { experiment_id: '0' })).toContain(name);
  });

  it('adds the experiment to a registered prompt once, then writes nothing for unchanged content', async () => {
    const name = uniqueName('add-listed');
    await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'));
    const adding = createRegistryClient({ trackingUri: uri });
    const outcome = await registerPromptFile(adding, promptFile(name, 'Answer {{ q }}'), {
      experimentId: '0',
    });
    expect(outcome.status).toBe('unchanged');
    // read; set the tag
    expect(adding.requestCount).toBe(2);
    const again = createRegistryClient({ trackingUri: uri });
    await registerPromptFile(again, promptFile(name, 'Answer {{ q }}'), { experimentId: '0' });
    expect(again.requestCount).toBe(1);
    await registerPromptFile(registry, promptFile(name, 'Answer {{ q }}'), { experimentId: '12' });
    expect((await registry.getPrompt(name)).tags._mlflow_experiment_ids).toBe(',0,12,');
  });
});
