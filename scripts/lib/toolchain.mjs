// Brings what the project needs onto a fresh machine that has only Node and Python: a Node 22
// binary (the Lambda runtime's major) that the tests run on and npm ci runs with, the node modules,
// and the project-local Python venv with the pinned requirements. Each step is skipped when
// already done.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const cacheDir = join(root, '.cache');
export const venvDir = process.env.PROMPTOPS_VENV || join(root, '.venv');
/** The Node major the Lambda functions run on; tests run on it too. */
export const NODE_VERSION = '22.23.3';

function log(message) {
  process.stderr.write(`[setup] ${message}\n`);
}

function run(command, args, options = {}) {
  execFileSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...options });
}

function sha256(text) {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * `npm ci` with the Node of `ensureNode()` first on PATH: the machine's npm (`#!/usr/bin/env node`)
 * runs on it, so the engine checks (`engines.node` >=22 here and in dependencies) see the Node the
 * code runs on rather than an older machine Node, and the install scripts that `allowScripts` in
 * package.json lets run (and the `prepare` build of the CLI) run on it too.
 */
export function ensureNodeModules() {
  const lock = readFileSync(join(root, 'package-lock.json'), 'utf8');
  const stamp = join(root, 'node_modules', '.promptops-lock.sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === sha256(lock)) return;
  const node = ensureNode();
  log(`installing node modules (npm ci on Node ${NODE_VERSION.split('.')[0]})`);
  run('npm', ['ci', '--no-audit', '--no-fund'], {
    env: { ...process.env, PATH: [dirname(node), process.env.PATH].filter(Boolean).join(delimiter) },
  });
  writeFileSync(stamp, sha256(lock));
}

/**
 * A Node binary of the Lambda runtime's major: this one if it is, else one from the npm registry.
 * It needs only npm and tar, not the node modules, so it runs first on a fresh clone.
 */
export function ensureNode() {
  const major = NODE_VERSION.split('.')[0];
  if (process.versions.node.split('.')[0] === major) return process.execPath;
  const dir = join(cacheDir, `node-${NODE_VERSION}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (existsSync(binary)) return binary;
  const pkg = `node-${process.platform}-${process.arch}@${NODE_VERSION}`;
  log(`fetching Node ${NODE_VERSION} (${pkg}) from the npm registry`);
  mkdirSync(dir, { recursive: true });
  const tarball = execFileSync('npm', ['pack', pkg, '--silent', '--pack-destination', dir], {
    cwd: root,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .pop();
  run('tar', ['-xzf', join(dir, tarball), '-C', dir]);
  return binary;
}

export function venvBin(name) {
  return join(venvDir, 'bin', name);
}

export function ensureVenv() {
  const requirements = readFileSync(join(root, 'requirements.txt'), 'utf8');
  const stamp = join(venvDir, '.promptops-requirements.sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === sha256(requirements)) return venvDir;
  const python = process.env.PYTHON || 'python3';
  if (!existsSync(venvBin('python'))) {
    log(`creating the Python venv at ${venvDir}`);
    run(python, ['-m', 'venv', venvDir]);
  }
  log('installing the pinned Python packages (requirements.txt)');
  run(venvBin('python'), [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '-r',
    'requirements.txt',
  ]);
  writeFileSync(stamp, sha256(requirements));
  return venvDir;
}
