/**
 * The bounds every AWS SDK client of the functions is built with. The SDK's defaults wait without
 * limit for an answer, which a function with a deadline cannot afford; the caller's deadline
 * (lib/runtime/deadline: `sdkCallOptions()`) then bounds the call as a whole, retries included.
 */
export const AWS_CLIENT_BOUNDS = {
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
} as const;
