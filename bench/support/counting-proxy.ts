/**
 * A loopback HTTP proxy in front of the real MLflow server that records every request it
 * forwards (method, path, the benchmark's attribution headers, which it strips, and the status and
 * time of MLflow's answer), so that clients in any language can be counted on the same hop.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { startForwardingProxy } from '../../test/support/forwarding-proxy';

/** Set by the Python side of a benchmark to say which phase and thread sent a request. */
export const PHASE_HEADER = 'x-bench-phase';
export const THREAD_HEADER = 'x-bench-thread';

export interface SeenRequest {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  readonly phase: string | undefined;
  readonly thread: string | undefined;
  /** The upstream answer's HTTP status, once it came. */
  readonly status: number | undefined;
  /** From the request's arrival to the end of MLflow's answer (server time plus the proxy hop). */
  readonly durationMs: number | undefined;
}

type Recording = { -readonly [K in keyof SeenRequest]: SeenRequest[K] };

export interface CountingProxy {
  readonly url: string;
  /** Returns what was recorded since the last call (or the start) and starts a new record. */
  take(): SeenRequest[];
  close(): Promise<void>;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  let seen: SeenRequest[] = [];
  const proxy = await startForwardingProxy(target, (req, headers) => {
    const phase = header(headers, PHASE_HEADER);
    const thread = header(headers, THREAD_HEADER);
    delete headers[PHASE_HEADER];
    delete headers[THREAD_HEADER];
    const url = req.url ?? '/';
    const started = performance.now();
    const record: Recording = {
      method: req.method ?? 'GET',
      path: url.split('?')[0] ?? url,
      phase,
      thread,
      status: undefined,
      durationMs: undefined,
    };
    seen.push(record);
    return {
      onAnswer: (status) => {
        record.status = status;
      },
      onEnd: () => {
        record.durationMs = performance.now() - started;
      },
    };
  });
  return {
    url: proxy.url,
    take() {
      const taken = seen;
      seen = [];
      return taken;
    },
    close: () => proxy.close(),
  };
}
