// `npm run bench [-- name ...]`: installs what is missing, then runs the benchmarks in bench/
// (every bench/*.ts in name order, or only the named ones) on the Lambda runtime's Node major.
// A benchmark prints a report; it exits non-zero only when it could not run.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNode, ensureNodeModules, ensureVenv, root, venvDir } from './lib/toolchain.mjs';

const node = ensureNode();
ensureNodeModules();
ensureVenv();
// Loaded only now: it needs esbuild from the node modules installed above.
const { runTs } = await import('./lib/run-ts.mjs');

const available = readdirSync(join(root, 'bench'))
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
  .map((file) => file.slice(0, -'.ts'.length))
  .sort();
const requested = process.argv.slice(2).map((arg) => arg.replace(/^bench\//, '').replace(/\.ts$/, ''));
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  process.stderr.write(
    `[bench] unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ') || '(none)'}\n`,
  );
  process.exit(2);
}

const env = { ...process.env, PROMPTOPS_VENV: venvDir };
const failed = [];
for (const name of requested.length > 0 ? requested : available) {
  process.stderr.write(`[bench] ${name}\n`);
  const code = await runTs(node, join('bench', `${name}.ts`), { env });
  if (code !== 0) failed.push(`${name} (exit ${code})`);
}
if (failed.length > 0) {
  process.stderr.write(`[bench] failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
