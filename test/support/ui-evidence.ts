/**
 * What a browser test leaves behind: on failure, a screenshot and the page's text under
 * `.cache/ui-failures/` (named in the error, since a headless run shows nothing); on request, the
 * pages the README shows.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';

const FAILURE_DIR = resolve('.cache', 'ui-failures');

/** Folder for README screenshots (`PROMPTOPS_UI_SCREENSHOTS=docs/screenshots`), when asked for. */
export const SCREENSHOT_ENV = 'PROMPTOPS_UI_SCREENSHOTS';

/** Runs `work`; when it fails, saves what the page showed and fails with the paths in the message. */
export async function withFailureEvidence<T>(page: Page, label: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const saved = await savePageState(page, label).catch(
      (cause: unknown) => `(could not save the page: ${(cause as Error).message})`,
    );
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\n\nThe page at the failure (${page.url()}): ${saved}`, { cause: error });
  }
}

async function savePageState(page: Page, label: string): Promise<string> {
  mkdirSync(FAILURE_DIR, { recursive: true });
  const base = join(FAILURE_DIR, `${label}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 10_000 });
  const text = await page.locator('body').innerText({ timeout: 5_000 });
  writeFileSync(`${base}.txt`, `${page.url()}\n\n${text}\n`);
  return `screenshot ${base}.png, text ${base}.txt`;
}

/** A full-page PNG into the README's folder when `PROMPTOPS_UI_SCREENSHOTS` names one; else nothing. */
export async function screenshotForDocs(page: Page, file: string): Promise<void> {
  const dir = process.env[SCREENSHOT_ENV];
  if (dir === undefined || dir === '') return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, file), fullPage: true });
}
