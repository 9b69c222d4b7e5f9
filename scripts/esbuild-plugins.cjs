// esbuild plugins for serverless-esbuild (custom.esbuild.plugins in serverless.yml), which calls
// this with the Serverless instance, its variables resolved.
//
// agent-contract: the agent's contract (prompts/agent.yaml) is taken when a bundle is built. The
// module lib/agent/bundled-contract.ts is replaced by the contract as the project's own reader
// (lib/agent/contract-file.ts, compiled for the occasion) makes of the file, so a malformed file
// fails the build, naming the field, and no bundle reads the file or parses YAML at run time.
// The CLI's build and the local runs' bundles use it too (scripts/build-cli.mjs,
// scripts/lib/run-ts.mjs).
//
// prompt-snapshot: the predict function's fallback prompts are taken when the function is
// bundled, after checking that its flow can run with the contract (else the build fails). The module functions/predict/bundled-snapshot.ts is replaced by the JSON that
// `promptops snapshot` prints for the stage's alias, pins and naming (read from the function's
// environment in serverless.yml): from the registry named by MLFLOW_TRACKING_URI in the packaging
// environment, or, without one or when it cannot be read, from the files in prompts/ (with a
// warning; PROMPTOPS_SNAPSHOT_REQUIRE_REGISTRY=true makes that an error instead).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const SNAPSHOT_MODULE = /[\\/]functions[\\/]predict[\\/]bundled-snapshot\.ts$/;
const CONTRACT_MODULE = /[\\/]lib[\\/]agent[\\/]bundled-contract\.ts$/;
/** Where the contract is, relative to the project root; also the contract's `source`. */
const CONTRACT_FILE = 'prompts/agent.yaml';

/** The exports of one of the project's TypeScript modules, compiled for the occasion. */
function projectModule(root, ...where) {
  const esbuild = require('esbuild');
  const built = esbuild.buildSync({
    entryPoints: [path.join(root, ...where)],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    logLevel: 'silent',
  });
  const loaded = { exports: {} };
  new Function('module', 'exports', 'require', built.outputFiles[0].text)(loaded, loaded.exports, require);
  return loaded.exports;
}

/** The contract in `root`'s prompts/agent.yaml, read by lib/agent/contract-file.ts. */
function readContract(root) {
  const text = fs.readFileSync(path.join(root, CONTRACT_FILE), 'utf8');
  return projectModule(root, 'lib', 'agent', 'contract-file.ts').parseContract(CONTRACT_FILE, text);
}

function agentContract(root) {
  let contract;
  return {
    name: 'promptops-agent-contract',
    setup(build) {
      build.onLoad({ filter: CONTRACT_MODULE }, () => {
        try {
          contract ??= readContract(root);
        } catch (error) {
          return { errors: [{ text: `the agent contract: ${error.message}` }] };
        }
        return { contents: `export const bundledContract = ${JSON.stringify(contract)};\n`, loader: 'js' };
      });
    },
  };
}

/**
 * Why the predict function's flow cannot run with `root`'s contract, or undefined when it can: a
 * contract it cannot run with fails the build, not every cold start after the deploy
 * (lib/agent/flow-supplies.ts).
 */
function flowRefusal(root) {
  try {
    projectModule(root, 'lib', 'agent', 'flow-supplies.ts').assertFlowCanRun(readContract(root));
    return undefined;
  } catch (error) {
    return String(error.message);
  }
}

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
        const refused = flowRefusal(root);
        if (refused) return { errors: [{ text: refused }] };
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

module.exports = (serverless) => [
  agentContract(serverless.serviceDir ?? process.cwd()),
  promptSnapshot(serverless),
];
module.exports.agentContract = agentContract;
module.exports.flowRefusal = flowRefusal;
