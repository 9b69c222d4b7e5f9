// Bundles the CLI (lib/cli/bin.ts) into dist/promptops.mjs; dependencies stay in node_modules.
import { build } from 'esbuild';

await build({
  entryPoints: ['lib/cli/bin.ts'],
  outfile: 'dist/promptops.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
