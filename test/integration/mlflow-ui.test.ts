/**
 * MLflow's own web UI, in a real (headless) chromium, against the real server: the prompt list, each
 * prompt's versions with their aliases and templates, and a predict's trace on the Traces tab of the
 * prompt pages (linked by the predict, as the README promises), then opened with its spans. What the
 * pages render is compared with what the registry client reads back, not with the prompt files.
 *
 * Needs a chromium binary (Debian's package; `.ci/run` installs it). Without one the tests are
 * skipped, and the run says so with the reason. `PROMPTOPS_UI_SCREENSHOTS=docs/screenshots` also
 * saves the README's screenshots.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChatAgentAnswer } from '../../lib/agent/chat-agent';
import { createChatModel } from '../../lib/model/chat-model';
import { PREDICT_METRICS } from '../../lib/observability/metric-names';
import { createPredictService } from '../../lib/predict/service';
import { REQUEST_DATA } from '../../lib/predict/settings';
import type { NamingOptions } from '../../lib/prompts/naming';
import { registerPromptFile } from '../../lib/register/register-prompt-file';
import { createRegistryClient, type RegistryClient } from '../../lib/registry';
import { deadlineIn } from '../../lib/runtime/deadline';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';
import { createTracer } from '../../lib/tracing/recorder';
import { type ModelStandin, STANDIN_MODEL, startModelStandin } from '../../local/model-standin';
import { agentPromptFiles, registerAgentPrompts, uniqueNaming } from '../support/agent-prompts';
import { capture } from '../support/capture';
import { findChromium, type LaunchedChromium, launchChromium } from '../support/chromium';
import {
  aliasesOn,
  choose,
  openPrompt,
  prepareMlflowPage,
  searchPrompts,
  selectVersion,
  showTraces,
  templateAsText,
  traceRow,
  traceView,
  UI_TIMEOUT_MS,
  versionRow,
} from '../support/mlflow-ui';
import { screenshotForDocs, withFailureEvidence } from '../support/ui-evidence';

const uri = inject('mlflowUri');
const browser = findChromium();
if (!browser.found) console.warn(`\n*** mlflow-ui.test.ts SKIPPED: ${browser.reason} ***\n`);

/** A browser test on a loaded 2-core machine: pages take seconds each. */
const TEST_TIMEOUT_MS = 120_000;

const QUESTION = 'Why did our DBU spend rise this week, and did any jobs fail?';

/** The prompt whose page the README shows; edited once, so its two versions carry different aliases. */
const SHOWN = 'cost_worker';

interface ShownVersion {
  readonly version: number;
  readonly aliases: string[];
  readonly template: string;
}

let registry: RegistryClient;
let naming: NamingOptions;
let prefix: string;
let names: Map<string, string>;
let standin: ModelStandin | undefined;
let answer: ChatAgentAnswer;
let experimentId: string;
let ui: LaunchedChromium | undefined;

function page() {
  if (!ui) throw new Error('chromium did not start (see beforeAll)');
  return ui.page;
}

function registryName(key: string): string {
  const name = names.get(key);
  if (name === undefined) throw new Error(`${key} was not registered`);
  return name;
}

/**
 * Every version of a prompt as the registry holds it, newest first (the UI is checked against this,
 * not against the files). A version search carries no aliases: they come from the prompt.
 */
async function versionsInRegistry(name: string): Promise<ShownVersion[]> {
  const [{ items }, prompt] = await Promise.all([
    registry.searchPromptVersions(name),
    registry.getPrompt(name),
  ]);
  return items
    .map(({ version, template }) => {
      if (typeof template !== 'string') throw new Error(`${name} v${version} is a chat prompt`);
      const aliases = Object.entries(prompt.aliases)
        .filter(([, on]) => on === version)
        .map(([alias]) => alias)
        .sort();
      return { version, aliases, template };
    })
    .sort((a, b) => b.version - a.version);
}

/** Registers the eight prompts, then an edit of one (staging moves, production stays), as the pipeline does. */
async function registerPrompts(): Promise<void> {
  names = await registerAgentPrompts(registry, naming);
  const file = (await agentPromptFiles()).find((f) => f.name === SHOWN);
  if (file === undefined || typeof file.template !== 'string') throw new Error(`no text prompt ${SHOWN}`);
  const edit = await registerPromptFile(
    registry,
    { ...file, template: `${file.template}\n\nName the three jobs that cost the most.` },
    { naming },
  );
  expect(edit.aliasesMoved).toEqual([{ alias: 'staging', version: 2, previousVersion: 1 }]);
}

/** One predict with the stand-in model, its trace in an experiment of this file's own. */
async function predictOnce(): Promise<void> {
  standin = await startModelStandin();
  const model = standin.url;
  const service = createPredictService({
    settings: {
      alias: 'production',
      pins: new Map(),
      ttlMs: 60_000,
      loadBudgetMs: 10_000,
      traceBudgetMs: 15_000,
      maxTokens: 256,
      content: DEFAULT_CONTENT_POLICY,
      // Only this predict's trace on the experiment's pages, whatever other test files send.
      experiment: { name: `${naming.prefix}traces` },
      data: REQUEST_DATA,
    },
    naming,
    registry: { withRegistry: (work) => work(registry) },
    model: async () => createChatModel({ baseUrl: model, name: STANDIN_MODEL }),
    snapshot: () => undefined,
    tracer: createTracer({ content: DEFAULT_CONTENT_POLICY }),
  });
  const captured = capture('predict');
  const context = { log: captured.log, metrics: captured.metrics, deadline: deadlineIn(60_000) };
  answer = await service.predict(
    {
      query: QUESTION,
      history: [],
      conversationId: 'ui-test',
      userId: 'ui-test',
      data: {},
      domains: undefined,
    },
    context,
  );
  context.metrics.flush();
  // The UI can only list a trace that was stored and linked: say so here rather than as a missing row.
  const totals = captured.metricTotals();
  expect(totals, 'the predict did not store its trace').toMatchObject({ TraceExported: 1 });
  expect(totals[PREDICT_METRICS.linkFailed], 'the trace was not linked to its prompts').toBeUndefined();
  experimentId = await service.experimentId();
}

describe.skipIf(!browser.found)(
  browser.found ? `MLflow UI in chromium (${browser.path})` : `MLflow UI: SKIPPED, ${browser.reason}`,
  () => {
    beforeAll(async () => {
      if (!browser.found) return;
      // The browser first: a wrong PROMPTOPS_CHROMIUM fails here, before any work.
      ui = await launchChromium(browser.path);
      await prepareMlflowPage(ui.page);
      registry = createRegistryClient({ trackingUri: uri });
      naming = uniqueNaming('browser');
      prefix = naming.prefix ?? '';
      await registerPrompts();
      await predictOnce();
    }, TEST_TIMEOUT_MS);

    afterAll(async () => {
      await Promise.all([ui?.close(), standin?.stop()]);
    });

    it(
      'lists the eight prompts on #/prompts, found by the search box, each at its latest version',
      () =>
        withFailureEvidence(page(), 'prompt-list', async () => {
          await searchPrompts(page(), uri, prefix);
          for (const name of names.values()) {
            const link = page().getByRole('link', { name, exact: true });
            await link.waitFor();
            expect(await link.getAttribute('href')).toBe(`#/prompts/${name}`);
            const latest = (await versionsInRegistry(name))[0]?.version;
            const row = page().getByRole('row').filter({ has: link });
            await row.getByRole('cell', { name: `Version ${latest}`, exact: true }).waitFor();
          }
          // Only this run's prompts match its prefix: exactly the eight.
          const listed = page().getByRole('link', { name: prefix });
          await expect.poll(() => listed.count(), { timeout: UI_TIMEOUT_MS }).toBe(8);
        }),
      TEST_TIMEOUT_MS,
    );

    it(
      "shows each prompt's versions with the aliases and the templates the registry holds",
      () =>
        withFailureEvidence(page(), 'prompt-pages', async () => {
          // The registry first: production and staging where register put them, or this proves nothing.
          for (const [key, name] of names) {
            const aliases = (await versionsInRegistry(name)).map((v) => [v.version, v.aliases]);
            expect(aliases, name).toEqual(
              key === SHOWN
                ? [
                    [2, ['staging']],
                    [1, ['production']],
                  ]
                : [[1, ['production', 'staging']]],
            );
          }
          for (const [key, name] of names) {
            const versions = await versionsInRegistry(name);
            // Opens on the latest version; each is then picked from the list, as a user would.
            await openPrompt(page(), uri, name);
            expect(page().url()).toMatch(new RegExp(`[?&]promptVersion=${versions[0]?.version}$`));
            await choose(page(), 'Preview');
            for (const { version, aliases, template } of versions) {
              const row = versionRow(page(), version);
              await row.waitFor();
              await expect.poll(() => aliasesOn(row), { timeout: UI_TIMEOUT_MS }).toEqual(aliases);
              await selectVersion(page(), version);
              await page()
                .getByRole('heading', { name: `Viewing version ${version}`, exact: true })
                .waitFor();
              const shown = await templateAsText(page(), template.split('\n')[0] ?? template);
              await expect.poll(() => shown.textContent(), { timeout: UI_TIMEOUT_MS }).toBe(template);
            }
            if (key === SHOWN) {
              // For the README: the version production serves, in the view that shows its text as stored.
              await selectVersion(page(), 1);
              await page().getByRole('heading', { name: 'Viewing version 1', exact: true }).waitFor();
              await screenshotForDocs(page(), 'mlflow-prompt-versions.png');
            }
          }
        }),
      TEST_TIMEOUT_MS,
    );

    it(
      "lists the predict's trace on the Traces tab of the orchestrator's and a worker's experiment page, and opens it",
      () =>
        withFailureEvidence(page(), 'prompt-traces', async () => {
          expect(answer.domains).toContain('cost');
          for (const key of ['orchestrator', SHOWN]) {
            const name = registryName(key);
            const versions = await versionsInRegistry(name);
            // The tab lists the selected version's traces: the one predict loaded, production's.
            const loaded = answer.prompts.find((p) => p.name === name)?.version;
            expect(loaded, name).toBe(versions.find((v) => v.aliases.includes('production'))?.version);
            await openPrompt(page(), uri, name, experimentId);
            await showTraces(page(), loaded ?? 0, versions[0]?.version ?? 0);
            const row = traceRow(page(), answer.traceId);
            await row.waitFor();
            expect(await row.textContent()).toContain(QUESTION);
          }
          await screenshotForDocs(page(), 'mlflow-prompt-traces.png');
          await traceRow(page(), answer.traceId).getByRole('cell', { name: answer.traceId }).click();
          const view = traceView(page(), answer.traceId);
          await view.waitFor();
          const spans = ['agent_predict', 'load_prompts', 'classify_intent', 'synthesize'].concat(
            answer.domains.map((domain) => `worker.${domain}`),
          );
          for (const span of spans) await view.getByText(span, { exact: true }).first().waitFor();
          await view.getByRole('button', { name: '8 linked prompts' }).first().waitFor();
          await screenshotForDocs(page(), 'mlflow-trace.png');
        }),
      TEST_TIMEOUT_MS,
    );
  },
);
