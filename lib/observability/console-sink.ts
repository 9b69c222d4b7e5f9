/**
 * Where Powertools' logger and metrics write, when not stdout: the CLI sends warnings to stderr
 * and drops metrics, tests keep the lines. Both classes print through a `console` of their own
 * (Node's Console over process.stdout), so a Console over our sink takes its place.
 */
import { Console } from 'node:console';
import { Writable } from 'node:stream';

/** One call per printed line (the line ends with its newline). */
export type LineSink = (line: string) => void;

export function sinkConsole(sink: LineSink): Console {
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      sink(chunk.toString());
      done();
    },
  });
  return new Console({ stdout: stream, stderr: stream });
}

/**
 * Points `instance`'s output at `sink`. Relies on the pinned Powertools version's `console`
 * member (test/unit/observability.test.ts fails if a new version moves it).
 */
export function redirectOutput<T extends object>(instance: T, sink: LineSink | undefined): T {
  if (!sink) return instance;
  Object.assign(instance, { console: sinkConsole(sink) });
  // Metrics writes its cold-start metric through a one-off instance: that one is redirected too.
  const single = (instance as { singleMetric?: () => object }).singleMetric;
  if (typeof single === 'function') {
    Object.assign(instance, { singleMetric: () => redirectOutput(single.call(instance), sink) });
  }
  return instance;
}
