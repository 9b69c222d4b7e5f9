/**
 * The agent's variable contract: which prompts the agent loads and the variables it supplies when
 * it formats each, read from `agent.yaml` beside the prompts (contract-file.ts). One place, shared
 * by the promotion gate (a version that needs a variable the agent does not supply is refused),
 * the prompt loader and the scheduled verifier. The functions use the contract they were built
 * with; the CLI the one in the prompts directory it is given, else that one.
 */
import { InvalidInputError, UnsupportedTemplateError } from '../errors';
import { formatTemplate, type Template, templateVariables } from '../prompts/template';
import { bundledContract } from './bundled-contract';

export interface AgentContract {
  /** The file it was read from, for messages. */
  readonly source: string;
  /** Each prompt the agent loads, by short name, with the variables the agent supplies to it. */
  readonly prompts: Readonly<Record<string, readonly string[]>>;
}

/** A prompt of the agent, by its short name (`orchestrator`). */
export type AgentPrompt = string;

/** The contract the code was built with: prompts/agent.yaml. */
export const BUILT_IN_CONTRACT: AgentContract = bundledContract;

/** The agent's prompts, in the contract's order. */
export function agentPrompts(contract: AgentContract = BUILT_IN_CONTRACT): string[] {
  return Object.keys(contract.prompts);
}

export function isAgentPrompt(shortName: string, contract: AgentContract = BUILT_IN_CONTRACT): boolean {
  return Object.hasOwn(contract.prompts, shortName);
}

/** The refusal of a name outside the contract, listing the prompts it has. */
export function notAgentPrompt(shortName: string, contract: AgentContract = BUILT_IN_CONTRACT): string {
  return `'${shortName}' is not one of the agent's prompts (${agentPrompts(contract).join(', ')}).`;
}

/** Refuses any of `names` outside the contract; `what` says where they came from. */
export function assertAgentPrompts(
  names: Iterable<string>,
  what: string,
  contract: AgentContract = BUILT_IN_CONTRACT,
): void {
  for (const name of names) {
    if (!isAgentPrompt(name, contract))
      throw new InvalidInputError(`${what}: ${notAgentPrompt(name, contract)}`);
  }
}

/** The variables the agent supplies to a prompt; a prompt outside the contract is an error. */
export function suppliedVariables(
  shortName: string,
  contract: AgentContract = BUILT_IN_CONTRACT,
): readonly string[] {
  const supplied = isAgentPrompt(shortName, contract) ? contract.prompts[shortName] : undefined;
  if (supplied === undefined) throw new InvalidInputError(notAgentPrompt(shortName, contract));
  return supplied;
}

export interface ContractCheck {
  /** Variables the agent supplies that the template does not use (allowed; reported). */
  readonly unused: readonly string[];
}

/**
 * Whether the agent can format this template: it formats it, as the agent would, with a value for
 * every supplied variable. Throws the formatting error (missing variables, Jinja2) when it cannot.
 */
export function checkContract(
  shortName: string,
  template: Template,
  contract: AgentContract = BUILT_IN_CONTRACT,
): ContractCheck {
  const supplied = suppliedVariables(shortName, contract);
  const used = templateVariables(template);
  formatTemplate(template, Object.fromEntries(supplied.map((v) => [v, `<${v}>`])));
  return { unused: supplied.filter((v) => !used.includes(v)) };
}

/** The roles the agent sends to a chat-completions model. */
const SENDABLE_ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant']);

/**
 * Whether the agent can use this version at all: the variable contract, and for a chat template,
 * only roles a chat-completions model takes. The prompt loader refuses to serve a version that
 * fails this (the last good one is served instead).
 */
export function checkUsable(
  shortName: string,
  template: Template,
  contract: AgentContract = BUILT_IN_CONTRACT,
): ContractCheck {
  const result = checkContract(shortName, template, contract);
  if (typeof template !== 'string') {
    for (const message of template) {
      if (!SENDABLE_ROLES.has(message.role)) {
        throw new UnsupportedTemplateError(
          `'${shortName}' has a chat message with role '${message.role}'; the agent sends system, user and assistant messages only.`,
        );
      }
    }
  }
  return result;
}
