/**
 * Deadlines that travel with the work they bound. A Lambda invocation has a fixed end
 * (`getRemainingTimeInMillis`); every outgoing call made on its behalf (registry, model, trace
 * export) must fit in what is left, and no retry may start that would outlive it. Threading a
 * deadline argument through every client method would touch every signature, so the deadline
 * rides on an AsyncLocalStorage instead: `withDeadline(deadline, work)` sets it for everything
 * `work` awaits, and the HTTP layers read it when they send (`currentDeadline()`).
 *
 * A nested deadline never extends its parent: the earlier end wins.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface Deadline {
  /** When the time is up, in epoch milliseconds. */
  readonly at: number;
  /** Aborts when the time is up (or the parent's is). */
  readonly signal: AbortSignal;
  /** Milliseconds left, never negative. */
  remainingMs(): number;
}

const storage = new AsyncLocalStorage<Deadline>();

/** A deadline `ms` from now; inside a parent deadline (given, or the current one), the earlier end. */
export function deadlineIn(
  ms: number,
  options: { parent?: Deadline | undefined; now?: () => number } = {},
): Deadline {
  const now = options.now ?? Date.now;
  const parent = options.parent ?? currentDeadline();
  const ownAt = now() + Math.max(0, ms);
  const at = parent ? Math.min(parent.at, ownAt) : ownAt;
  // AbortSignal.timeout's timer does not keep the process alive.
  const own = AbortSignal.timeout(Math.max(0, at - now()));
  const signal = parent ? AbortSignal.any([parent.signal, own]) : own;
  return { at, signal, remainingMs: () => Math.max(0, at - now()) };
}

/**
 * Runs `work` with `deadline` as the current one. Inside an earlier deadline, the earlier one
 * stays in force: a nested deadline never extends its parent.
 */
export function withDeadline<T>(deadline: Deadline, work: () => Promise<T>): Promise<T> {
  const parent = storage.getStore();
  return storage.run(parent && parent.at < deadline.at ? parent : deadline, work);
}

/**
 * Clean-up that must still happen when the current deadline has passed (cancelling a statement
 * left running on a server): `work` runs under a deadline of its own, `ms` from now, outside the
 * current one. Keep `ms` small: it is time spent past the caller's end.
 */
export function beyondDeadline<T>(ms: number, work: () => Promise<T>): Promise<T> {
  return storage.exit(() => withDeadline(deadlineIn(ms), work));
}

/** The deadline of the work this call is part of, if any. */
export function currentDeadline(): Deadline | undefined {
  return storage.getStore();
}

/**
 * `work`, or a rejection with `onTimeout()` after `ms`, whichever comes first. For work that may
 * not honour the deadline itself (an SDK call): the caller moves on, and the late result, or
 * rejection, of `work` is dropped.
 */
export function settleWithin<T>(ms: number, work: Promise<T>, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The AWS SDK's per-call options for the current deadline: the call is aborted when the time is
 * up (the SDK's own timeouts bound one attempt, not the caller's end).
 */
export function sdkCallOptions(): { abortSignal?: AbortSignal } {
  const deadline = currentDeadline();
  return deadline ? { abortSignal: deadline.signal } : {};
}

/** Milliseconds left before the current deadline; unbounded (Infinity) outside one. */
export function remainingMs(): number {
  return currentDeadline()?.remainingMs() ?? Number.POSITIVE_INFINITY;
}
