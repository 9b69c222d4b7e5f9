import { type AgentContract, agentPrompts, assertAgentPrompts, BUILT_IN_CONTRACT } from '../agent/contract';
import type { LoadSpec } from '../prompt-loader/loader';
import { type NamingOptions, registryName } from '../prompts/naming';
import type { PredictSettings } from './settings';

/** The agent's prompts, each by the stage's alias unless pinned. */
export function loadSpecs(
  settings: Pick<PredictSettings, 'alias' | 'pins'>,
  naming: NamingOptions,
  contract: AgentContract = BUILT_IN_CONTRACT,
): LoadSpec[] {
  assertAgentPrompts(settings.pins.keys(), 'Pins', contract);
  return agentPrompts(contract).map((key) => {
    const pin = settings.pins.get(key);
    const name = registryName(key, naming);
    return { key, target: pin ? { name, ...pin } : { name, alias: settings.alias } };
  });
}
