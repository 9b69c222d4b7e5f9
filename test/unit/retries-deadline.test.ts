import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ConflictError,
  DeadlineExceededError,
  InvalidInputError,
  type PromptOpsError,
  UnavailableError,
} from '../../lib/errors';
import {
  type Attempt,
  callWithRetries,
  MIN_ATTEMPT_MS,
  type RetryingCall,
  type RetryPolicy,
} from '../../lib/http/retries';
import {
  currentDeadline,
  type Deadline,
  deadlineIn,
  settleWithin,
  withDeadline,
} from '../../lib/runtime/deadline';

const POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000, maxElapsedMs: 60_000 };

let clock: number;
let sleeps: number[];
const now = () => clock;

beforeEach(() => {
  clock = 1_000_000;
  sleeps = [];
});

afterEach(() => {
  vi.useRealTimers();
});

const transient = (what = 'busy', retryAfterMs?: number): Attempt<string> => ({
  error: new UnavailableError(what, { retryAfterMs }),
  retryable: true,
  retryAfterMs,
});
const refused = (error: PromptOpsError = new InvalidInputError('no')): Attempt<string> => ({
  error,
  retryable: false,
});
const ok = (value = 'done'): Attempt<string> => ({ value, retryable: false });

/** A call whose attempts answer from `script` in turn, recording the timeout each was given. */
function scripted(script: Attempt<string>[], overrides: Partial<RetryingCall<string>> = {}) {
  const timeouts: number[] = [];
  const signals: (AbortSignal | undefined)[] = [];
  const call: RetryingCall<string> = {
    operation: 'unit op',
    policy: POLICY,
    clock: {
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
      now,
      random: () => 1,
    },
    attemptTimeoutMs: 10_000,
    attempt: async (timeoutMs, signal) => {
      timeouts.push(timeoutMs);
      signals.push(signal);
      const next = script.shift();
      if (next === undefined) throw new Error('the script ran out: an attempt too many');
      return next;
    },
    ...overrides,
  };
  return { call, timeouts, signals };
}

describe('callWithRetries', () => {
  it('returns the first success without waiting', async () => {
    const { call, timeouts } = scripted([ok()]);
    await expect(callWithRetries(call)).resolves.toBe('done');
    expect(timeouts).toEqual([10_000]);
    expect(sleeps).toEqual([]);
  });

  it('backs off exponentially up to maxDelayMs and gives up after maxAttempts with the last error', async () => {
    const last = transient('fourth');
    const { call, timeouts } = scripted([transient(), transient(), transient(), last], {
      policy: { ...POLICY, maxDelayMs: 300 },
    });
    const error = await callWithRetries(call).catch((e: unknown) => e);
    expect(error).toBe(last.error);
    expect(timeouts).toHaveLength(4);
    expect(sleeps).toEqual([100, 200, 300]);
  });

  it('waits at least the Retry-After, and more when the jittered backoff is longer', async () => {
    const { call } = scripted([transient('a', 30), transient('b', 5_000), ok()]);
    await callWithRetries(call);
    expect(sleeps).toEqual([100, 5_000]);
  });

  it('does not retry a refusal', async () => {
    const first = refused();
    const { call, timeouts } = scripted([first]);
    await expect(callWithRetries(call)).rejects.toBe(first.error);
    expect(timeouts).toHaveLength(1);
  });

  it('does not start a retry that would end past maxElapsedMs, failing with the transient error', async () => {
    const first = transient('slow down', 120_000);
    const { call, timeouts } = scripted([first]);
    await expect(callWithRetries(call)).rejects.toBe(first.error);
    expect(timeouts).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('gives an attempt only what is left of maxElapsedMs', async () => {
    const { call, timeouts } = scripted([transient('a', 900), ok()], {
      policy: { ...POLICY, maxElapsedMs: 1_000 },
      attemptTimeoutMs: 5_000,
    });
    await callWithRetries(call);
    expect(timeouts).toEqual([1_000, 100]);
  });
});

describe("a reconcile is part of the call's budget", () => {
  it('runs under a deadline of what is left of maxElapsedMs (it had a budget of its own)', async () => {
    let seen: number | undefined;
    const { call } = scripted([transient('lost', 300), ok()], {
      policy: { ...POLICY, maxElapsedMs: 1_000 },
      reconcile: async () => {
        seen = currentDeadline()?.remainingMs();
        return { retryable: true };
      },
    });
    await callWithRetries(call);
    // 1,000 ms of budget, 300 waited: the look gets what is left, not 20 s of its own.
    expect(seen).toBeDefined();
    expect(seen as number).toBeLessThanOrEqual(700);
    expect(seen as number).toBeGreaterThan(600);
  });

  it("bounds the look by the call's budget under a later caller deadline, and does not look when nothing is left", async () => {
    let seen: number | undefined;
    const { call } = scripted([transient('lost', 100), ok()], {
      reconcile: async () => {
        seen = currentDeadline()?.remainingMs();
        return { retryable: true };
      },
    });
    // A caller's deadline later than the call's budget: the budget bounds the look.
    await withDeadline(deadlineIn(60_000), () =>
      callWithRetries({ ...call, policy: { ...POLICY, maxElapsedMs: 1_000 } }),
    );
    expect(seen as number).toBeLessThanOrEqual(900);
    expect(seen as number).toBeGreaterThan(800);
    let looked = false;
    const spent = scripted([transient('lost', 990)], {
      policy: { ...POLICY, maxElapsedMs: 1_000 },
      reconcile: async () => {
        looked = true;
        return { retryable: true };
      },
    });
    await expect(callWithRetries(spent.call)).rejects.toBeInstanceOf(UnavailableError);
    expect(looked).toBe(false);
  });

  it('ends with the transient failure, not a deadline the caller never set, when the look runs out of budget', async () => {
    const first = transient('lost', 100);
    const { call } = scripted([first], {
      policy: { ...POLICY, maxElapsedMs: 1_000 },
      reconcile: async () => ({ error: new DeadlineExceededError('the look ran out'), retryable: false }),
    });
    await expect(callWithRetries(call)).rejects.toBe(first.error);
  });
});

describe('callWithRetries under a deadline', () => {
  it('does not start a Retry-After wait that would outlive the deadline: DeadlineExceededError, cause the last error', async () => {
    const first = transient('throttled', 2_000);
    const { call, timeouts } = scripted([first]);
    const error = await withDeadline(deadlineIn(1_000, { now }), () => callWithRetries(call)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect((error as Error).cause).toBe(first.error);
    expect(timeouts).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('does not start a backoff that would leave less than MIN_ATTEMPT_MS to send', async () => {
    const first = transient();
    const { call } = scripted([first], { policy: { ...POLICY, baseDelayMs: 500 } });
    const error = await withDeadline(deadlineIn(500 + MIN_ATTEMPT_MS - 1, { now }), () =>
      callWithRetries(call),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).cause).toBe(first.error);
    expect(sleeps).toEqual([]);
  });

  it('retries when the backoff and one short attempt fit in the time left', async () => {
    const { call } = scripted([transient(), ok('second')], { policy: { ...POLICY, baseDelayMs: 500 } });
    await expect(
      withDeadline(deadlineIn(500 + MIN_ATTEMPT_MS, { now }), () => callWithRetries(call)),
    ).resolves.toBe('second');
    expect(sleeps).toEqual([500]);
  });

  it("bounds each attempt's timeout by the time left, and passes the deadline's signal", async () => {
    const { call, timeouts, signals } = scripted([transient(), ok()], { attemptTimeoutMs: 10_000 });
    const deadline = deadlineIn(300, { now });
    await withDeadline(deadline, () => callWithRetries(call));
    expect(timeouts).toEqual([300, 200]);
    expect(signals).toHaveLength(2);
    for (const signal of signals) expect(signal).toBe(deadline.signal);
  });

  it('fails with DeadlineExceededError, not the transient error, when an attempt used up the deadline', async () => {
    const first = transient();
    const { call } = scripted([first], {
      policy: { ...POLICY, maxAttempts: 1 },
      attempt: async () => {
        clock += 1_000;
        return first;
      },
    });
    const error = await withDeadline(deadlineIn(1_000, { now }), () => callWithRetries(call)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).cause).toBe(first.error);
  });

  it('keeps the transient error when there is no deadline', async () => {
    const first = transient();
    const { call } = scripted([first], { policy: { ...POLICY, maxAttempts: 1 } });
    await expect(callWithRetries(call)).rejects.toBe(first.error);
  });

  it('does not send at all when the deadline is too close', async () => {
    const { call, timeouts } = scripted([ok()]);
    const error = await withDeadline(deadlineIn(MIN_ATTEMPT_MS - 1, { now }), () =>
      callWithRetries(call),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).cause).toBeUndefined();
    expect(timeouts).toEqual([]);
  });
});

describe('callWithRetries: acceptOnResend', () => {
  const linked = new ConflictError('already linked');
  const acceptOnResend = (error: PromptOpsError) => (error instanceof ConflictError ? 'linked' : undefined);

  it('maps a refusal on a re-send after a transient failure to the result', async () => {
    const { call, timeouts } = scripted([transient(), refused(linked)], { acceptOnResend });
    await expect(callWithRetries(call)).resolves.toBe('linked');
    expect(timeouts).toHaveLength(2);
  });

  it('does not map the same refusal on the first attempt', async () => {
    const { call } = scripted([refused(linked)], { acceptOnResend });
    await expect(callWithRetries(call)).rejects.toBe(linked);
  });

  it('keeps a refusal on a re-send that it does not recognise', async () => {
    const other = new InvalidInputError('bad');
    const { call } = scripted([transient(), refused(other)], { acceptOnResend });
    await expect(callWithRetries(call)).rejects.toBe(other);
  });
});

describe('callWithRetries: reconcile', () => {
  it('is not asked before the first attempt, and a found value ends the call without a re-send', async () => {
    const reconcile = vi.fn(async (): Promise<Attempt<string>> => ({ value: 'adopted', retryable: false }));
    const { call, timeouts } = scripted([transient()], { reconcile });
    await expect(callWithRetries(call)).resolves.toBe('adopted');
    expect(reconcile).toHaveBeenCalledTimes(1);
    expect(timeouts).toHaveLength(1);
    expect(sleeps).toEqual([100]);
  });

  it('re-sends when it finds nothing', async () => {
    const reconcile = vi.fn(async (): Promise<Attempt<string>> => ({ retryable: true }));
    const { call, timeouts } = scripted([transient(), ok('created')], { reconcile });
    await expect(callWithRetries(call)).resolves.toBe('created');
    expect(reconcile).toHaveBeenCalledTimes(1);
    expect(timeouts).toHaveLength(2);
  });

  it('stops at a refusal of its own', async () => {
    const gone = new InvalidInputError('the prompt was deleted');
    const reconcile = async (): Promise<Attempt<string>> => ({ error: gone, retryable: false });
    const { call, timeouts } = scripted([transient()], { reconcile });
    await expect(callWithRetries(call)).rejects.toBe(gone);
    expect(timeouts).toHaveLength(1);
  });

  it('counts its transient failure as an attempt, without re-sending', async () => {
    const down = new UnavailableError('lookup failed');
    const reconcile = vi.fn(async (): Promise<Attempt<string>> => ({ error: down, retryable: true }));
    const { call, timeouts } = scripted([transient()], { reconcile, policy: { ...POLICY, maxAttempts: 3 } });
    await expect(callWithRetries(call)).rejects.toBe(down);
    expect(timeouts).toHaveLength(1);
    expect(reconcile).toHaveBeenCalledTimes(2);
  });
});

describe('deadlines', () => {
  it('has no deadline outside withDeadline', () => {
    expect(currentDeadline()).toBeUndefined();
  });

  it('counts the time left down to zero, never below', () => {
    const deadline = deadlineIn(1_000, { now });
    expect(deadline.at).toBe(clock + 1_000);
    clock += 400;
    expect(deadline.remainingMs()).toBe(600);
    clock += 5_000;
    expect(deadline.remainingMs()).toBe(0);
  });

  it('makes the deadline current for everything the work awaits', async () => {
    const deadline = deadlineIn(1_000, { now });
    const seen = await withDeadline(deadline, async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return currentDeadline();
    });
    expect(seen).toBe(deadline);
    expect(currentDeadline()).toBeUndefined();
  });

  it('never lets a nested withDeadline extend its parent', async () => {
    const outer = deadlineIn(1_000, { now });
    const later = deadlineIn(5_000, { now });
    const inner = await withDeadline(outer, () => withDeadline(later, async () => currentDeadline()));
    expect(inner).toBe(outer);
  });

  it('lets a nested withDeadline shorten its parent', async () => {
    const outer = deadlineIn(1_000, { now });
    const sooner = deadlineIn(200, { now });
    const inner = await withDeadline(outer, () => withDeadline(sooner, async () => currentDeadline()));
    expect(inner).toBe(sooner);
  });

  it('takes the current deadline as the parent of a new one: the earlier end wins', async () => {
    const [longer, shorter] = await withDeadline(deadlineIn(1_000, { now }), async () => [
      deadlineIn(5_000, { now }),
      deadlineIn(200, { now }),
    ]);
    expect(longer?.at).toBe(clock + 1_000);
    expect(shorter?.at).toBe(clock + 200);
  });

  it("aborts a child's signal when its parent's aborts", () => {
    const controller = new AbortController();
    const parent: Deadline = { at: clock + 10_000, signal: controller.signal, remainingMs: () => 10_000 };
    const child = deadlineIn(60_000, { parent, now });
    expect(child.at).toBe(parent.at);
    expect(child.signal.aborted).toBe(false);
    controller.abort();
    expect(child.signal.aborted).toBe(true);
  });
});

describe('settleWithin', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  it('settles with the work when it finishes in time, leaving no timer behind', async () => {
    const settled = settleWithin(1_000, Promise.resolve('ok'), () => new Error('late'));
    await expect(settled).resolves.toBe('ok');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with onTimeout() when the work takes longer, and drops its late rejection', async () => {
    let fail: (error: Error) => void = () => undefined;
    const work = new Promise<string>((_, reject) => {
      fail = reject;
    });
    const timeout = new DeadlineExceededError('secret fetch took too long');
    const settled = settleWithin(1_000, work, () => timeout);
    const outcome = settled.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(999);
    let done = false;
    void outcome.then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBe(timeout);
    // Rejecting the abandoned work later must not surface as an unhandled rejection.
    fail(new Error('late failure'));
    await Promise.resolve();
    expect(vi.getTimerCount()).toBe(0);
  });
});
