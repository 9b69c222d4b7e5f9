import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentContract, BUILT_IN_CONTRACT } from './contract';
import { CONTRACT_FILE, readContractFile } from './contract-file';

/**
 * The contract for a prompts directory, as the CLI takes it: the directory's agent.yaml when it
 * has one (a team managing its own agent's prompts), else the one the code was built with.
 */
export function contractForDirectory(dir: string): AgentContract {
  const file = join(dir, CONTRACT_FILE);
  return existsSync(file) ? readContractFile(file) : BUILT_IN_CONTRACT;
}
