/**
 * `promptops feedback <traceId> --value up|down|<score> [--comment TEXT] [--name NAME] [--by WHO]`:
 * a person's judgement of one of the agent's answers, recorded on its trace as MLflow's
 * `log_feedback` records it (an assessment), on the registry's tracking server.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { type CliIo, UsageError } from './io';
import { registryFromEnv } from './registry-from-env';

/** `up`/`down` (yes/no also), or a finite number. */
export function feedbackValue(text: string | undefined): boolean | number {
  if (text === undefined) throw new UsageError('feedback needs --value up, down or a number.');
  const lower = text.trim().toLowerCase();
  if (lower === 'up' || lower === 'yes') return true;
  if (lower === 'down' || lower === 'no') return false;
  const score = Number(lower);
  if (lower === '' || !Number.isFinite(score))
    throw new UsageError(`--value expects up, down or a number, got '${text}'.`);
  return score;
}

function whoAmI(env: NodeJS.ProcessEnv): string {
  if (env.PROMPTOPS_FEEDBACK_BY?.trim()) return env.PROMPTOPS_FEEDBACK_BY.trim();
  try {
    return userInfo().username;
  } catch {
    return 'promptops-cli';
  }
}

export async function feedbackCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      value: { type: 'string' },
      comment: { type: 'string' },
      name: { type: 'string' },
      by: { type: 'string' },
      'tracking-uri': { type: 'string' },
    },
  });
  const [traceId, ...rest] = positionals;
  if (traceId === undefined || rest.length > 0) throw new UsageError('feedback takes exactly one trace id.');
  const value = feedbackValue(values.value);
  const registry = registryFromEnv(io.env, values['tracking-uri']);
  const { assessmentId } = await registry.logFeedback(traceId, {
    value,
    rationale: values.comment,
    sourceId: values.by ?? whoAmI(io.env),
    ...(values.name ? { name: values.name } : {}),
  });
  io.stdout(`feedback ${assessmentId} recorded on ${traceId}\n`);
  return 0;
}
