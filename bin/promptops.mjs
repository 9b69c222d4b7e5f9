#!/usr/bin/env node
// The CLI is bundled from lib/cli by `npm run build` (run by `npm ci` / `npm install`).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/promptops.mjs', import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write('promptops: not built yet; run `npm run build` in the project first.\n');
  process.exit(1);
}
await import(bundle.href);
