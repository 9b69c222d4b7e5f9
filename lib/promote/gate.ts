/**
 * The promotion gate: a version reaches an alias the agent loads only when the agent can format
 * it with the variables it supplies (the agent's contract, lib/agent/contract.ts). Refusals name
 * the version and the variables, so the fix is obvious.
 */
import { type AgentContract, BUILT_IN_CONTRACT, checkContract, suppliedVariables } from '../agent/contract';
import { MissingVariablesError, UnsupportedTemplateError } from '../errors';
import type { PromptVersion } from '../registry';

export function assertPassesGate(
  shortName: string,
  version: PromptVersion,
  contract: AgentContract = BUILT_IN_CONTRACT,
): void {
  try {
    checkContract(shortName, version.template, contract);
  } catch (error) {
    const supplied = suppliedVariables(shortName, contract).join(', ');
    if (error instanceof MissingVariablesError) {
      throw new MissingVariablesError(error.missing, {
        cause: error,
        message:
          `Version ${version.version} of '${version.name}' needs ${error.missing.join(', ')}, ` +
          `which the agent does not supply (it supplies ${supplied}).`,
      });
    }
    if (error instanceof UnsupportedTemplateError) {
      throw new UnsupportedTemplateError(
        `Version ${version.version} of '${version.name}' cannot be formatted by the agent: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}
