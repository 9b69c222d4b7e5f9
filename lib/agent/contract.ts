/**
 * The agent's variable contract: which variables the Health Monitor agent supplies when it
 * formats each of its prompts. One place, shared by the promotion gate (a version that needs a
 * variable the agent does not supply is refused), the agent itself and the scheduled verifier.
 */
import { InvalidInputError, UnsupportedTemplateError } from '../errors';
import { formatTemplate, type Template, templateVariables } from '../prompts/template';

export const AGENT_CONTRACT = {
  orchestrator: ['context', 'query'],
  intent_classifier: ['query'],
  synthesizer: ['domain_responses', 'query'],
  cost_worker: ['data', 'query'],
  security_worker: ['data', 'query'],
  performance_worker: ['data', 'query'],
  reliability_worker: ['data', 'query'],
  quality_worker: ['data', 'query'],
} as const satisfies Readonly<Record<string, readonly string[]>>;

export type AgentPrompt = keyof typeof AGENT_CONTRACT;

export function isAgentPrompt(shortName: string): shortName is AgentPrompt {
  return Object.hasOwn(AGENT_CONTRACT, shortName);
}

/** The variables the agent supplies to a prompt; a prompt outside the contract is an error. */
export function suppliedVariables(shortName: string): readonly string[] {
  if (!isAgentPrompt(shortName)) {
    throw new InvalidInputError(
      `'${shortName}' is not one of the agent's prompts (${Object.keys(AGENT_CONTRACT).join(', ')}).`,
    );
  }
  return AGENT_CONTRACT[shortName];
}

export interface ContractCheck {
  /** Variables the agent supplies that the template does not use (allowed; reported). */
  readonly unused: readonly string[];
}

/**
 * Whether the agent can format this template: it formats it, as the agent would, with a value for
 * every supplied variable. Throws the formatting error (missing variables, Jinja2) when it cannot.
 */
export function checkContract(shortName: string, template: Template): ContractCheck {
  const supplied = suppliedVariables(shortName);
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
export function checkUsable(shortName: string, template: Template): ContractCheck {
  const result = checkContract(shortName, template);
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
