/**
 * The one retry loop of the project's HTTP clients (the registry's, the model's): bounded
 * attempts, exponential backoff with full jitter, `Retry-After` honoured, each attempt given only
 * what is left of the call's budget, and the caller's deadline (lib/runtime/deadline) respected:
 * no attempt or wait is started that would outlive it, and a call that runs out of time fails
 * with DeadlineExceededError instead of the transient error it would have retried.
 */
import { DeadlineExceededError, type PromptOpsError, UnavailableError } from '../errors';
import { currentDeadline, deadlineIn, withDeadline } from '../runtime/deadline';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Backoff before the second attempt; doubles each time, with full jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** No retry is started that would end after this much time since the first attempt. */
  readonly maxElapsedMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxElapsedMs: 20_000,
};

/** Below this much time left, an attempt is not started: it could not get an answer back. */
export const MIN_ATTEMPT_MS = 50;

export interface Attempt<T> {
  readonly value?: T;
  readonly error?: PromptOpsError;
  readonly retryable: boolean;
  readonly retryAfterMs?: number | undefined;
}

export interface RetryClock {
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly random: () => number;
}

// A referenced timer: the caller awaits it, and an unreferenced one would let a CLI process exit
// in the middle of a retry.
const defaultSleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

/** The retry settings a client takes: the policy, and the clock as seams for tests. */
export interface RetryOptions {
  readonly retry?: Partial<RetryPolicy> | undefined;
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
}

export function retryClock(
  overrides: { readonly [K in keyof RetryClock]?: RetryClock[K] | undefined } = {},
): RetryClock {
  return {
    sleep: overrides.sleep ?? defaultSleep,
    now: overrides.now ?? Date.now,
    random: overrides.random ?? Math.random,
  };
}

export interface RetryingCall<T> {
  readonly operation: string;
  readonly policy: RetryPolicy;
  readonly clock: RetryClock;
  /** The most one attempt may take. */
  readonly attemptTimeoutMs: number;
  /** One attempt, bounded by `timeoutMs` and aborted by `signal` (the deadline's). */
  readonly attempt: (timeoutMs: number, signal: AbortSignal | undefined) => Promise<Attempt<T>>;
  /**
   * For a call that must not be repeated blindly (a create): before each re-send, looks for the
   * effect of an earlier attempt whose answer was lost; a value found is the call's result.
   */
  readonly reconcile?: (() => Promise<Attempt<T>>) | undefined;
  /**
   * For a call whose repeat is refused once it has taken effect (linking a pair that is linked):
   * on a re-send after a transient failure, maps such a refusal to the call's result.
   */
  readonly acceptOnResend?: ((error: PromptOpsError) => T | undefined) | undefined;
}

function backoffMs(policy: RetryPolicy, clock: RetryClock, failed: number, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failed - 1));
  const jittered = Math.round(clock.random() * ceiling);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}

function outOfTime(operation: string, cause: unknown): DeadlineExceededError {
  return new DeadlineExceededError(`${operation}: the caller's deadline leaves no time to try again.`, {
    ...(cause === undefined ? {} : { cause }),
  });
}

export async function callWithRetries<T>(call: RetryingCall<T>): Promise<T> {
  const { policy, clock, operation } = call;
  const deadline = currentDeadline();
  const started = clock.now();
  let last: Attempt<T> | undefined;
  for (let n = 1; n <= policy.maxAttempts; n += 1) {
    if (last !== undefined) {
      const delay = backoffMs(policy, clock, n - 1, last.retryAfterMs);
      if (clock.now() - started + delay > policy.maxElapsedMs) break;
      // A wait that would end past the deadline (or leave no time to send) is not started.
      if (deadline && delay + MIN_ATTEMPT_MS > deadline.remainingMs()) throw outOfTime(operation, last.error);
      await clock.sleep(delay);
      if (call.reconcile) {
        // The look for a lost attempt's effect is part of the call: it runs within what is left
        // of the call's budget (and the caller's deadline), not with a budget of its own.
        const budget = policy.maxElapsedMs - (clock.now() - started);
        if (budget < MIN_ATTEMPT_MS) break;
        const reconcile = call.reconcile;
        const found = await withDeadline(deadlineIn(budget, { parent: deadline }), () => reconcile());
        // The look ran out of the call's own budget, not the caller's: the call ends with the
        // transient failure it was retrying, not a deadline the caller never set.
        if (
          found.error instanceof DeadlineExceededError &&
          (!deadline || deadline.remainingMs() >= MIN_ATTEMPT_MS)
        )
          break;
        if (found.value !== undefined) return found.value;
        if (found.error) {
          last = found;
          if (!found.retryable) break;
          continue;
        }
      }
    }
    let left = policy.maxElapsedMs - (clock.now() - started);
    if (deadline) {
      if (deadline.remainingMs() < MIN_ATTEMPT_MS) throw outOfTime(operation, last?.error);
      left = Math.min(left, deadline.remainingMs());
    }
    // No attempt outlives the call's budget: each gets what is left of it, at most the attempt timeout.
    const resend = last !== undefined;
    last = await call.attempt(Math.max(1, Math.min(call.attemptTimeoutMs, left)), deadline?.signal);
    if (last.error === undefined) return last.value as T;
    if (resend && !last.retryable && call.acceptOnResend) {
      const accepted = call.acceptOnResend(last.error);
      if (accepted !== undefined) return accepted;
    }
    if (!last.retryable) break;
  }
  // A transient failure that ended because the deadline passed is the deadline's failure.
  if (last?.retryable && deadline && deadline.remainingMs() < MIN_ATTEMPT_MS) {
    throw outOfTime(operation, last.error);
  }
  throw last?.error ?? new UnavailableError(`${operation}: no attempt was made`);
}

/** Seconds or an HTTP date, per RFC 9110; anything else is ignored. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
