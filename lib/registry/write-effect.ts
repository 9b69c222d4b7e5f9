/**
 * Whether a failed call may still have taken effect on the server. The retry loop hides every
 * attempt but the last: a write whose first attempt timed out (and was applied) may end on a
 * refusal of its re-send. The HTTP client says, per failed call, whether any of its attempts may
 * have reached the server and been applied; a caller that must know whether a write happened (an
 * alias move) asks here.
 */
const reached = new WeakMap<object, boolean>();

export function noteWriteEffect(error: unknown, mayHaveApplied: boolean): void {
  if (typeof error === 'object' && error !== null) reached.set(error, mayHaveApplied);
}

/**
 * `true`: some attempt may have been applied (no answer came, or a server error mid-way);
 * `false`: none was (never sent, refused, or turned away by a 429 or 503); `undefined`: not a
 * failure of the HTTP client (a test double, a failure before any request).
 */
export function mayHaveTakenEffect(error: unknown): boolean | undefined {
  return typeof error === 'object' && error !== null ? reached.get(error) : undefined;
}
