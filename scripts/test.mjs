// `npm test`: installs what is missing, then runs the whole suite (vitest) on the Lambda runtime's
// Node major. The integration project starts a real MLflow server on a free loopback port and
// stops it at the end, pass or fail. Extra arguments go to vitest (e.g. `--project unit`).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureNode, ensureNodeModules, ensureVenv, root, venvDir } from './lib/toolchain.mjs';

const node = ensureNode();
ensureNodeModules();
const args = process.argv.slice(2);
const unitOnly = args.includes('--project') && args[args.indexOf('--project') + 1] === 'unit';
if (!unitOnly) ensureVenv();

const result = spawnSync(node, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...args], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PROMPTOPS_VENV: venvDir },
});
process.exit(result.status ?? 1);
