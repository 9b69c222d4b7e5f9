/** The Health Monitor's domains, each answered by its worker prompt. */
import type { AgentPrompt } from './contract';

export const DOMAINS = ['cost', 'security', 'performance', 'reliability', 'quality'] as const;
export type Domain = (typeof DOMAINS)[number];

export function isDomain(value: unknown): value is Domain {
  return typeof value === 'string' && (DOMAINS as readonly string[]).includes(value);
}

export const WORKER_OF: Readonly<Record<Domain, AgentPrompt>> = {
  cost: 'cost_worker',
  security: 'security_worker',
  performance: 'performance_worker',
  reliability: 'reliability_worker',
  quality: 'quality_worker',
};
