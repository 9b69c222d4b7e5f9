/**
 * What the Health Monitor's flow (flow.ts) formats, and the check that a contract lets it run. Its
 * own module, free of the flow's dependencies, so the predict bundle's build can run the check too
 * (scripts/esbuild-plugins.cjs): a contract the flow cannot run with fails packaging, not every
 * request after the deploy.
 */
import { ConfigError } from '../errors';
import type { AgentContract, AgentPrompt } from './contract';
import { DOMAINS, WORKER_OF } from './domains';

/**
 * What this flow formats: each prompt it loads and the values it supplies to it (a test records
 * the flow's calls and holds this to them). A contract (prompts/agent.yaml) the flow runs with
 * must list each of these prompts, with no variable outside these values: the promotion gate
 * would otherwise pass a template this flow cannot fill.
 */
export const FLOW_SUPPLIES: Readonly<Record<AgentPrompt, readonly string[]>> = {
  intent_classifier: ['query'],
  orchestrator: ['context', 'query'],
  synthesizer: ['domain_responses', 'query'],
  ...Object.fromEntries(DOMAINS.map((domain) => [WORKER_OF[domain], ['data', 'query']])),
};

/** Refuses a contract this flow cannot run with, naming what is wrong (at cold start). */
export function assertFlowCanRun(contract: AgentContract): void {
  const problems = Object.entries(FLOW_SUPPLIES).flatMap(([prompt, supplied]) => {
    const declared = contract.prompts[prompt];
    if (declared === undefined) return [`it has no '${prompt}', which the agent loads`];
    const extra = declared.filter((variable) => !supplied.includes(variable));
    return extra.length === 0
      ? []
      : [
          `'${prompt}' lists ${extra.join(', ')}, which the agent does not supply (it supplies ${supplied.join(', ')})`,
        ];
  });
  if (problems.length > 0) {
    throw new ConfigError(
      `The agent cannot run with the contract in ${contract.source}: ${problems.join('; ')}.`,
    );
  }
}
