// Bundles the CLI (lib/cli/bin.ts) into dist/promptops.mjs; dependencies stay in node_modules.
// The agent's contract built in is prompts/agent.yaml as it is now (see esbuild-plugins.cjs).
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { agentContract } from './esbuild-plugins.cjs';

const root = fileURLToPath(new URL('..', import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: ['lib/cli/bin.ts'],
  outfile: 'dist/promptops.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [agentContract(root)],
});
