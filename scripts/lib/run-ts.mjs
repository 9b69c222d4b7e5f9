// Runs a TypeScript entry file on a given Node binary: esbuild bundles the entry and its relative
// imports into .cache/run-ts/<name>.mjs (packages stay external and resolve from node_modules;
// the agent's contract is built in, as in every bundle: see esbuild-plugins.cjs), then the binary
// runs that bundle with this process's stdio; the exit code is passed back.
// Import this module only after ensureNodeModules(): it needs esbuild.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { agentContract } from '../esbuild-plugins.cjs';
import { cacheDir, root } from './toolchain.mjs';

/** Bundles `entry` (a path, relative to the project root or absolute) and returns the bundle's path. */
export async function bundleTs(entry) {
  const name = basename(entry).replace(/\.[cm]?tsx?$/, '');
  // One bundle per process: two runs at once (a test beside `npm start`) must not overwrite the
  // file the other is running.
  const outfile = join(cacheDir, 'run-ts', `${name}-${process.pid}.mjs`);
  await build({
    absWorkingDir: root,
    entryPoints: [resolve(root, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    packages: 'external',
    sourcemap: 'inline',
    outfile,
    logLevel: 'warning',
    plugins: [agentContract(root)],
  });
  return outfile;
}

/**
 * Bundles `entry` and runs it on `node` with inherited stdio, in the project root.
 * Resolves to the child's exit code (128 + signal number if it was killed by a signal).
 */
export async function runTs(node, entry, { args = [], env = process.env } = {}) {
  const outfile = await bundleTs(entry);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(node, ['--enable-source-maps', outfile, ...args], {
      cwd: root,
      stdio: 'inherit',
      env,
    });
    // Ctrl-C (and a closed terminal's SIGHUP) reach the child too, from the terminal, being in
    // the same process group: wait for it to clean up and exit. A SIGTERM is sent to one process
    // (`kill <pid>`): passed on, so the child stops what it started.
    const ignore = () => {};
    const forward = () => child.kill('SIGTERM');
    process.on('SIGINT', ignore);
    process.on('SIGHUP', ignore);
    process.on('SIGTERM', forward);
    const detach = () => {
      process.off('SIGINT', ignore);
      process.off('SIGHUP', ignore);
      process.off('SIGTERM', forward);
    };
    const done = (code) => {
      rmSync(outfile, { force: true });
      detach();
      resolvePromise(code);
    };
    child.once('error', (error) => {
      detach();
      reject(error);
    });
    child.once('exit', (code, signal) => {
      if (code !== null) return done(code);
      done(128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
