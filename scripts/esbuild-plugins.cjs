// esbuild plugins for serverless-esbuild (custom.esbuild.plugins in serverless.yml), which calls
// this with the Serverless instance, its variables resolved.
//
// prompt-snapshot: the predict function's fallback prompts are taken when the function is
// bundled. The module functions/predict/bundled-snapshot.ts is replaced by the JSON that
// `promptops snapshot` prints for the stage's alias, pins and naming (read from the function's
// environment in serverless.yml): from the registry named by MLFLOW_TRACKING_URI in the packaging
// environment, or, without one or when it cannot be read, from the files in prompts/ (with a
// warning; PROMPTOPS_SNAPSHOT_REQUIRE_REGISTRY=true makes that an error instead).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const SNAPSHOT_MODULE = /[\\/]functions[\\/]predict[\\/]bundled-snapshot\.ts$/;

function flag(args, name, value) {
  if (typeof value === 'string' && value.trim() !== '') args.push(`--${name}`, value.trim());
}

/** The CLI is rebuilt first: the snapshot must be taken by this checkout's code, not an older build. */
function buildCli(root) {
  const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-cli.mjs')], {
    cwd: root,
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`building the CLI failed: ${built.stderr || built.error}`);
}

function promptSnapshot(serverless) {
  let cliBuilt = false;
  return {
    name: 'promptops-prompt-snapshot',
    setup(build) {
      build.onLoad({ filter: SNAPSHOT_MODULE }, () => {
        const service = serverless.service;
        const root = serverless.serviceDir ?? process.cwd();
        if (!cliBuilt) {
          try {
            buildCli(root);
          } catch (error) {
            return { errors: [{ text: String(error.message) }] };
          }
          cliBuilt = true;
        }
        const env = { ...service.provider.environment, ...(service.functions.predict?.environment ?? {}) };
        const args = [path.join(serverless.serviceDir ?? process.cwd(), 'bin', 'promptops.mjs'), 'snapshot'];
        flag(args, 'alias', env.PREDICT_ALIAS);
        flag(args, 'pins', env.PREDICT_PROMPT_PINS);
        flag(args, 'catalog', env.PROMPT_CATALOG);
        flag(args, 'schema', env.PROMPT_SCHEMA);
        flag(args, 'prefix', env.PROMPT_NAME_PREFIX);
        if (process.env.PROMPTOPS_SNAPSHOT_REQUIRE_REGISTRY === 'true') args.push('--require-registry');
        const result = spawnSync(process.execPath, args, {
          cwd: serverless.serviceDir ?? process.cwd(),
          encoding: 'utf8',
          maxBuffer: 16 * 1024 * 1024,
        });
        const said = (result.stderr || '').trim();
        if (said) serverless.cli.log(`prompt snapshot: ${said.replace(/\n/g, '\n  ')}`);
        if (result.status !== 0) {
          return {
            errors: [{ text: `promptops snapshot failed (exit ${result.status}): ${said || result.error}` }],
          };
        }
        return { contents: `export const bundledSnapshot = ${result.stdout.trim()};\n`, loader: 'js' };
      });
    },
  };
}

module.exports = (serverless) => [promptSnapshot(serverless)];
