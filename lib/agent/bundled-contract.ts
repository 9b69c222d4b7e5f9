/**
 * The agent's contract as the code was built with it: prompts/agent.yaml. Every bundle (the
 * functions, the CLI, the local run and the benchmarks) has this module replaced by the contract
 * read when it was built (scripts/esbuild-plugins.cjs), so nothing deployed reads the file. Run
 * from source (the tests), it reads the file beside this checkout's code.
 */
import { fileURLToPath } from 'node:url';
import type { AgentContract } from './contract';
import { readContractFile } from './contract-file';

const here = fileURLToPath(import.meta.url);
// Bundled without the plugin, the path below would point wherever the bundle landed.
if (!/[\\/]lib[\\/]agent[\\/]bundled-contract\.ts$/.test(here)) {
  throw new Error(`${here} was bundled without the agent contract plugin (scripts/esbuild-plugins.cjs).`);
}

export const bundledContract: AgentContract = {
  ...readContractFile(fileURLToPath(new URL('../../prompts/agent.yaml', import.meta.url))),
  source: 'prompts/agent.yaml',
};
