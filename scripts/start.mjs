// `npm start`: installs what is missing, then runs the local main job (local/start.ts) on the
// Lambda runtime's Node major. Arguments go through (e.g. `npm start -- --once`).
import { ensureNode, ensureNodeModules, ensureVenv, venvDir } from './lib/toolchain.mjs';

const node = ensureNode();
ensureNodeModules();
ensureVenv();
const { runTs } = await import('./lib/run-ts.mjs');
const code = await runTs(node, 'local/start.ts', {
  args: process.argv.slice(2),
  env: { ...process.env, PROMPTOPS_VENV: venvDir },
});
process.exit(code);
