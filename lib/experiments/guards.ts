/**
 * Guardrails as people write them: `error_rate<=+1pp,p95_latency<=+20%,feedback>=-5pp`. Each is a
 * limit on the variant's value minus control's: in percentage points of a rate (`pp`) or relative
 * to control's value (`%`). Refusals name the guard and what is wrong with it.
 */
import { InvalidInputError } from '../errors';
import { GUARD_METRICS, type Guard, newGuardSchema } from './definition';

// Bounded: a metric name, a comparison, a signed number of at most 12 characters and a unit.
const GUARD = /^([a-z0-9_]{1,32})\s*(<=|>=)\s*([+-]?[0-9]{1,6}(?:\.[0-9]{1,4})?)\s*(pp|%)$/;
const MAX_GUARDS = 10;
const MAX_TEXT = 1_000;

export function parseGuards(text: string): Guard[] {
  if (text.length > MAX_TEXT) throw new InvalidInputError(`Guardrails are at most ${MAX_TEXT} characters.`);
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (parts.length > MAX_GUARDS) throw new InvalidInputError(`At most ${MAX_GUARDS} guardrails.`);
  return parts.map((part) => {
    const match = GUARD.exec(part);
    if (!match) {
      throw new InvalidInputError(
        `Guardrail '${part.slice(0, 60)}' is not <metric><=|>=<signed number><pp|%>, e.g. error_rate<=+1pp.`,
      );
    }
    const [, metric, comparison, limit, unit] = match as unknown as [
      string,
      string,
      '<=' | '>=',
      string,
      'pp' | '%',
    ];
    if (!(GUARD_METRICS as readonly string[]).includes(metric)) {
      throw new InvalidInputError(
        `Guardrail '${part}': unknown metric '${metric}' (one of ${GUARD_METRICS.join(', ')}).`,
      );
    }
    const guard: Guard = { metric: metric as Guard['metric'], comparison, limit: Number(limit), unit };
    const problem = guardProblem(guard);
    if (problem) throw new InvalidInputError(`Guardrail '${part}': ${problem}.`);
    return guard;
  });
}

/** What is wrong with a guard whose parts are each valid, or undefined (the schema's own rules). */
export function guardProblem(guard: Guard): string | undefined {
  const checked = newGuardSchema.safeParse(guard);
  return checked.success ? undefined : checked.error.issues[0]?.message;
}

const signed = (n: number) => (n >= 0 ? `+${n}` : String(n));

export function formatGuard(guard: Guard): string {
  return `${guard.metric}${guard.comparison}${signed(guard.limit)}${guard.unit}`;
}
