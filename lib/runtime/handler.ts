/**
 * The one wrapper every function's handler goes through: the Lambda context on every log line
 * (request id, cold start, function name and version), debug sampling decided anew per
 * invocation, the cold-start metric, and the metrics written once at the end whether the handler
 * answered or threw. The handlers only say what to log and count about their own outcome.
 *
 * It does what Powertools' Middy middlewares do (injectLambdaContext, logMetrics) without Middy.
 * Module init does not decide between them (bench/bundles.ts: within a millisecond of each other
 * over 40 runs, Middy 3.5 KB more); what does: logMetrics writes a warning on every invocation
 * that counted nothing (a GET on the promote API counts nothing), and the invocation's own
 * metrics port (summed, closed at the end) needs a hook around the handler that Middy would only
 * wrap in another middleware.
 */
import type { Context } from 'aws-lambda';
import { invocationMetrics, type Metrics } from '../observability/metrics';
import { deadlineIn, withDeadline } from './deadline';
import type { Instruments } from './invocation';

/** What a handler reads of the Lambda context (tests pass only the request id). */
export type InvocationContext = Pick<Context, 'awsRequestId'> & Partial<Context>;

export type Handler<E, R> = (event: E, context: InvocationContext) => Promise<R>;

/** A handler as the wrapper calls it: with the metrics of its invocation. */
export type InstrumentedHandler<E, R> = (
  event: E,
  context: InvocationContext,
  metrics: Metrics,
) => Promise<R>;

/** Kept back from the invocation's remaining time to log, count and answer what happened. */
export const ANSWER_MARGIN_MS = 1_500;

export function instrumented<E, R>(
  { logger, metrics }: Instruments,
  handler: InstrumentedHandler<E, R>,
): Handler<E, R> {
  return async (event, context) => {
    // The context first: the sampling decision logs a line, which names its request.
    logger.addContext(context as Context);
    logger.refreshSampleRateCalculation();
    metrics.captureColdStartMetric(context.functionName);
    const counted = invocationMetrics(metrics);
    const remaining = context.getRemainingTimeInMillis?.();
    const run = () => handler(event, context, counted);
    try {
      // Every call made for this invocation (registry, DynamoDB, S3, model) ends before the
      // Lambda's own end, less a margin in which a failure is still logged, counted and answered:
      // a write is aborted by us, and its outcome told, rather than cut by the runtime unseen.
      return await (remaining === undefined
        ? run()
        : withDeadline(deadlineIn(remaining - ANSWER_MARGIN_MS), run));
    } finally {
      try {
        counted.close();
      } finally {
        if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
        logger.resetKeys();
      }
    }
  };
}
