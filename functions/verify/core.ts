/**
 * The verify function: on a schedule (EventBridge), checks every alias the agent loads with
 * lib/verify, writes one structured report to the log and the run's metrics, and fails nothing:
 * a failed check is an alarm (VerifyFailures), not a failed invocation to retry.
 */
import { type AgentContract, BUILT_IN_CONTRACT } from '../../lib/agent/contract';
import type { VerifyEnv } from '../../lib/config/verify-env';
import { VERIFY_METRICS } from '../../lib/observability/metric-names';
import type { PromptSnapshot } from '../../lib/prompt-loader/snapshot';
import { instrumented } from '../../lib/runtime/handler';
import type { Runtime } from '../../lib/runtime/invocation';
import type { VerifyReport } from '../../lib/verify/checks';
import { verifyThrough } from '../../lib/verify/verify';

export interface VerifyDeps {
  readonly runtime: Runtime;
  readonly env: VerifyEnv;
  /** What the predict function serves when the registry cannot answer (bundled alike). */
  readonly fallback?: PromptSnapshot | undefined;
  readonly contract?: AgentContract | undefined;
}

export function createVerifyHandler({ runtime, env, fallback, contract = BUILT_IN_CONTRACT }: VerifyDeps) {
  return instrumented(
    runtime.instruments,
    async (_event: unknown, _context, metrics): Promise<VerifyReport> => {
      const result = await verifyThrough(runtime.registry, {
        naming: runtime.naming,
        contract,
        aliases: env.VERIFY_ALIASES,
        fallback,
      });
      const failed = result.checks.filter((c) => c.status === 'fail');
      const warned = result.checks.filter((c) => c.status === 'warn');
      metrics.add(VERIFY_METRICS.runs, 1);
      metrics.add(VERIFY_METRICS.failures, failed.length);
      metrics.add(VERIFY_METRICS.warnings, warned.length);
      // Per prompt and alias too (zeros included), so a dashboard or an alarm can watch one of them.
      const pairs = new Map<string, { prompt: string; alias: string; failures: number; warnings: number }>();
      for (const c of result.checks) {
        if (c.alias === null) continue;
        const pair = pairs.get(`${c.prompt}@${c.alias}`) ?? {
          prompt: c.prompt,
          alias: c.alias,
          failures: 0,
          warnings: 0,
        };
        if (c.status === 'fail') pair.failures += 1;
        if (c.status === 'warn') pair.warnings += 1;
        pairs.set(`${c.prompt}@${c.alias}`, pair);
      }
      for (const { prompt, alias, failures, warnings } of pairs.values()) {
        metrics.addWith({ prompt, alias }, VERIFY_METRICS.failures, failures);
        metrics.addWith({ prompt, alias }, VERIFY_METRICS.warnings, warnings);
      }
      // One report a run: every finding, searchable by prompt, alias and code.
      const line = result.ok ? runtime.logger.info : runtime.logger.error;
      line(result.ok ? 'verify passed' : 'verify failed', {
        ok: result.ok,
        failures: failed.length,
        warnings: warned.length,
        checks: result.checks,
      });
      return result;
    },
  );
}
