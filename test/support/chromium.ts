/**
 * A real, headless chromium for the UI tests: where it is (Debian's package, or
 * `PROMPTOPS_CHROMIUM`), and one launched with a throwaway profile. Playwright's own browser
 * downloads are not used: the machines that run the tests cannot reach them, and the distribution's
 * package is what `.ci/run` installs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Where Debian (`chromium`) and Ubuntu-style packages (`chromium-browser`) put the binary. */
const PACKAGED = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export const CHROMIUM_ENV = 'PROMPTOPS_CHROMIUM';

export type ChromiumLookup =
  | { readonly found: true; readonly path: string }
  | { readonly found: false; readonly reason: string };

/**
 * The chromium to drive. An explicit `PROMPTOPS_CHROMIUM` must exist (a wrong path is a setup
 * error, reported by the caller as a failure, not a skip); otherwise the packaged paths are tried.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumLookup {
  const explicit = env[CHROMIUM_ENV];
  if (explicit !== undefined && explicit !== '') {
    return { found: true, path: explicit };
  }
  const path = PACKAGED.find((candidate) => existsSync(candidate));
  if (path !== undefined) return { found: true, path };
  return {
    found: false,
    reason:
      `no chromium at ${PACKAGED.join(' or ')}: install it (\`apt-get install chromium\`, as .ci/run does) ` +
      `or set ${CHROMIUM_ENV} to a chromium binary`,
  };
}

/**
 * Flags for a quiet headless run: no sandbox (CI runs as root), no GPU, and none of chromium's own
 * calls home (component updates, sync, field trials), which fail noisily where Google's hosts are
 * unreachable.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedChromium {
  readonly context: BrowserContext;
  readonly page: Page;
  close(): Promise<void>;
}

/** Chromium with a fresh profile (nothing remembered from an earlier run), one page, 1280x800. */
export async function launchChromium(executablePath: string): Promise<LaunchedChromium> {
  if (!existsSync(executablePath)) {
    throw new Error(`${CHROMIUM_ENV}=${executablePath}: no such file`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'promptops-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      args: ARGS,
      viewport: { width: 1280, height: 800 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      context,
      page,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}
