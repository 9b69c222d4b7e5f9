/**
 * A guarded rollout: the variant's share grows step by step (5 %, 25 %, 50 %) while its
 * guardrails hold, and stops the moment one breaks. The last step, 100 %, is the promotion of the
 * variant's version to the control alias: at 100 % there would be no control left to compare with. Each step is judged on its own window: the
 * traces of the experiment's current revision, which every change of the split raises. So a step
 * is decided once per window: a retried or concurrent run either finds the revision it read still
 * there (and the lock lets one of them act) or finds the next window, too young to decide.
 *
 * A guard on `metric <= L` (the variant minus control, in percentage points or in % of control):
 * - breaks when the whole confidence interval is beyond L: the variant is worse than allowed, with
 *   confidence (the rollout halts: the variant's share back to 0, the experiment halted, an alarm);
 * - holds when the whole interval is within L and both arms have the minimum sample
 *   (non-inferiority: the rollout may go on);
 * - otherwise waits for more data. `>=` mirrors it.
 * A window whose arms' sizes do not fit the split, or whose variant was mostly not served (it
 * could not be loaded), does not measure the variant: the rollout waits.
 */
import { type ExperimentDefinition, endedExperiment, type Guard } from './definition';
import { formatGuard } from './guards';
import { type ExperimentReport, hasEnough, type MetricComparison, SAMPLE_RATIO_ALPHA } from './report';

export type GuardState = 'holds' | 'breaks' | 'waiting';

export interface GuardOutcome {
  readonly guard: string;
  readonly state: GuardState;
  /** The estimate and interval in the guard's unit, when there was enough to compute them. */
  readonly value: number | null;
  readonly low: number | null;
  readonly high: number | null;
  readonly samples: readonly [number, number];
}

export type RolloutDecision =
  | { readonly action: 'hold'; readonly reason: string; readonly guards: readonly GuardOutcome[] }
  | {
      readonly action: 'advance';
      readonly toStep: number;
      readonly percent: number;
      readonly reason: string;
      readonly guards: readonly GuardOutcome[];
    }
  | { readonly action: 'halt'; readonly reason: string; readonly guards: readonly GuardOutcome[] }
  | { readonly action: 'complete'; readonly reason: string; readonly guards: readonly GuardOutcome[] };

/** The comparison's estimate and interval in the guard's unit, or null when it has none. */
function inUnit(guard: Guard, c: MetricComparison): { value: number; low: number; high: number } | null {
  if (guard.unit === 'pp') {
    if (c.difference === null || c.low === null || c.high === null) return null;
    return { value: c.difference * 100, low: c.low * 100, high: c.high * 100 };
  }
  // Relative: the bootstrap's own interval of the ratio, which carries control's uncertainty too.
  if (c.relative === null || c.relativeLow === null || c.relativeHigh === null) return null;
  return { value: c.relative * 100, low: c.relativeLow * 100, high: c.relativeHigh * 100 };
}

export function judgeGuard(guard: Guard, c: MetricComparison | undefined, minSamples: number): GuardOutcome {
  const samples = c?.samples ?? ([0, 0] as const);
  const base = { guard: formatGuard(guard), samples };
  const measured = c ? inUnit(guard, c) : null;
  if (!measured) return { ...base, state: 'waiting', value: null, low: null, high: null };
  const { value, low, high } = measured;
  const upper = guard.comparison === '<=';
  // Holds only when the whole interval is within the limit (non-inferiority): a small step with a
  // wide interval waits for more data rather than advancing on a lucky estimate.
  const within = upper ? high <= guard.limit : low >= guard.limit;
  const confidentlyBeyond = upper ? low > guard.limit : high < guard.limit;
  const enough = c !== undefined && hasEnough(c, minSamples);
  // A break needs the minimum sample too: a handful of early errors is not a verdict.
  const state: GuardState = !enough ? 'waiting' : confidentlyBeyond ? 'breaks' : within ? 'holds' : 'waiting';
  return { ...base, state, value, low, high };
}

/** The variant may miss at most this share of its requests (served control instead) in a window. */
export const MAX_VARIANT_FALLBACK = 0.01;

/** At the step before the last (100 %): its next move is the promotion. */
export function atLastStep(rollout: NonNullable<ExperimentDefinition['rollout']>): boolean {
  return rollout.step + 2 >= rollout.steps.length;
}

/** The experiment halted at `at`: stopped, and no share left to its variants. */
export function haltedExperiment(e: ExperimentDefinition, at: string): ExperimentDefinition {
  return { ...endedExperiment(e, 'halted', at), variants: e.variants.map((v) => ({ ...v, weight_bp: 0 })) };
}

/** What the rollout does next, from the report on its current window. */
export function decideRollout(definition: ExperimentDefinition, report: ExperimentReport): RolloutDecision {
  const rollout = definition.rollout;
  const variant = definition.variants[0];
  if (!rollout || !variant) throw new Error('decideRollout: the experiment has no rollout');
  const guards = (definition.guardrails ?? []).map((guard) =>
    judgeGuard(
      guard,
      report.comparisons.find((c) => c.variant === variant.alias && c.metric === guard.metric),
      report.minSamples,
    ),
  );
  const broken = guards.filter((g) => g.state === 'breaks');
  if (broken.length > 0) {
    return { action: 'halt', reason: `guardrail broken: ${broken.map(describe).join('; ')}`, guards };
  }
  const percent = rollout.steps[rollout.step] as number;
  // A broken guardrail halts whatever else is wrong; otherwise figures that do not measure the
  // variant make it wait, whatever the guardrails say.
  const ratio = report.sampleRatio.pValue;
  if (ratio !== null && ratio < SAMPLE_RATIO_ALPHA) {
    return {
      action: 'hold',
      reason: `at ${percent} %, the arms' sizes (${report.sampleRatio.observed.join('/')} ${report.sampleRatio.counted}) do not fit the split (p=${ratio.toExponential(1)}): assignment or traces are broken`,
      guards,
    };
  }
  const missed = report.arms.find((a) => a.alias === variant.alias)?.fallbackRate ?? 0;
  if (missed > MAX_VARIANT_FALLBACK) {
    return {
      action: 'hold',
      reason: `at ${percent} %, ${(missed * 100).toFixed(1)} % of the variant's requests were served control (it could not be loaded)`,
      guards,
    };
  }
  const waiting = guards.filter((g) => g.state === 'waiting');
  if (waiting.length > 0) {
    return {
      action: 'hold',
      reason: `at ${percent} %, waiting on ${waiting.map(describe).join('; ')}`,
      guards,
    };
  }
  const held = `guardrails hold at ${percent} %: ${guards.map(describe).join('; ')}`;
  // The last step is 100 %: reaching it is the promotion, judged on the step before.
  if (atLastStep(rollout)) return { action: 'complete', reason: held, guards };
  const next = rollout.steps[rollout.step + 1] as number;
  return { action: 'advance', toStep: rollout.step + 1, percent: next, reason: held, guards };
}

const round = (n: number) => Math.round(n * 100) / 100;

function describe(g: GuardOutcome): string {
  const counts = `n=${g.samples[0]}/${g.samples[1]}`;
  if (g.value === null) return `${g.guard} (${counts}, no estimate yet)`;
  return `${g.guard} (${round(g.value)} [${round(g.low as number)}, ${round(g.high as number)}], ${counts})`;
}

/** The experiment after the decision (for advance and halt; complete is written after the promotion). */
export function appliedDecision(
  definition: ExperimentDefinition,
  decision: Extract<RolloutDecision, { action: 'advance' }>,
): ExperimentDefinition {
  const [variant] = definition.variants;
  return {
    ...definition,
    variants: [
      { ...(variant as ExperimentDefinition['variants'][number]), weight_bp: decision.percent * 100 },
    ],
    rollout: { steps: definition.rollout?.steps ?? [], step: decision.toStep },
  };
}
