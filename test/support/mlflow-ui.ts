/**
 * MLflow 3.17.2's web UI as a user meets it, by what it renders (roles, labels, text) rather than
 * its CSS classes, which are generated. The routes are hash routes (`#/prompts/<name>`): a mere
 * hash change keeps the single-page app and what it holds in memory, so prompt pages are loaded
 * anew (`openPrompt`).
 */
import type { Locator, Page } from 'playwright-core';

/** Navigation timeouts and waits: generous, for a shared 2-core machine with other tests running. */
export const UI_TIMEOUT_MS = 30_000;

/**
 * Sets a page up for the prompt and trace pages: two things MLflow shows a fresh profile once are
 * kept out of the way. The assistant panel opens itself on the first visit and takes a quarter of
 * the viewport (closed here through its remembered state: if the key ever changes, the panel only
 * narrows the screenshots). The "Detect Issues" guidance pops over the traces table and hides the
 * rest of the page from the accessibility tree: dismissed with its own button whenever it shows.
 */
export async function prepareMlflowPage(page: Page): Promise<void> {
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  await page.context().addInitScript(() => {
    localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');
    localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
  });
  await page.addLocatorHandler(page.getByRole('button', { name: 'Got it', exact: true }), (button) =>
    button.click(),
  );
}

/** `#/prompts`, filtered by the page's search box (a name `ILIKE '%text%'` search on the server). */
export async function searchPrompts(page: Page, mlflowUri: string, text: string): Promise<void> {
  await page.goto(`${mlflowUri}/#/prompts`);
  const search = page.getByRole('textbox', { name: 'Search prompts by name' });
  await search.fill(text);
  await search.press('Enter');
}

/**
 * A prompt's page, `#/prompts/<name>` or the experiment's `#/experiments/<id>/prompts/<name>`,
 * loaded as a new document: after a mere hash change the app keeps what the previous page was left
 * in (its mode, Traces for instance, and its data while the new prompt's loads), so each page
 * starts from its address alone. Resolves once the page shows the prompt and has settled on a
 * version (the latest, which its address then names).
 */
export async function openPrompt(
  page: Page,
  mlflowUri: string,
  name: string,
  experimentId?: string,
): Promise<void> {
  const scope = experimentId === undefined ? '' : `experiments/${encodeURIComponent(experimentId)}/`;
  await page.goto('about:blank');
  await page.goto(`${mlflowUri}/#/${scope}prompts/${encodeURIComponent(name)}`);
  await page.getByRole('heading', { name, exact: true }).waitFor();
  await page.waitForURL(/[?&]promptVersion=\d+(&|$)/);
}

/** The versions list on a prompt's page. */
export function versionsTable(page: Page): Locator {
  return page.getByRole('table').filter({ has: page.getByRole('columnheader', { name: 'Versions' }) });
}

/** One version's entry in the versions list ("Version 12" is not "Version 1"). */
export function versionRow(page: Page, version: number): Locator {
  return versionsTable(page).getByRole('row', { name: new RegExp(`^Version ${version}(\\s|$)`) });
}

/** The aliases shown on a version's entry (each a "@ alias" badge), sorted. */
export async function aliasesOn(row: Locator): Promise<string[]> {
  const badges = await row.getByRole('status').allTextContents();
  return badges.map((text) => text.replace(/^@\s*/, '').trim()).sort();
}

/** Selects a version in the list; the page records it in its address (`?promptVersion=N`). */
export async function selectVersion(page: Page, version: number): Promise<void> {
  await versionRow(page, version).click();
  await page.waitForURL(new RegExp(`[?&]promptVersion=${version}(&|$)`));
}

/**
 * Picks an option of one of the page's switches: Preview / Compare / Traces, or Text / Markdown for
 * the template. The radio inputs themselves are hidden; the label is what a user clicks, and
 * clicking the chosen one again changes nothing.
 */
export async function choose(page: Page, option: string): Promise<void> {
  const group = page
    .getByRole('radiogroup')
    .filter({ has: page.getByRole('radio', { name: option, exact: true }) });
  await group.getByText(option, { exact: true }).click();
}

/**
 * The selected version's template in the "Text" view, which shows it verbatim (the default
 * Markdown view turns `- item` lines into a list). Found by its first line, so a template shown
 * twice, or not at all, fails.
 */
export async function templateAsText(page: Page, firstLine: string): Promise<Locator> {
  await choose(page, 'Text');
  return page.getByText(firstLine);
}

/**
 * The Traces tab (of an experiment's prompt page) for one version. Switching to the tab selects the
 * latest version (MLflow 3.17.2 does, whatever was selected), so the version is picked once that
 * has happened.
 */
export async function showTraces(page: Page, version: number, latest: number): Promise<void> {
  await choose(page, 'Traces');
  await page.waitForURL(new RegExp(`[?&]promptVersion=${latest}(&|$)`));
  await selectVersion(page, version);
}

/** The traces table row of a trace, by the id the Trace ID column shows in full. */
export function traceRow(page: Page, traceId: string): Locator {
  return page.getByRole('row').filter({ has: page.getByRole('cell', { name: traceId, exact: true }) });
}

/** The trace view MLflow opens over the page, titled with the trace id's first 8 hex digits. */
export function traceView(page: Page, traceId: string): Locator {
  return page.getByRole('dialog', { name: new RegExp(`Trace ${traceId.replace(/^tr-/, '').slice(0, 8)}`) });
}
