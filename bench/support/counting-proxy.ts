/**
 * A loopback HTTP proxy in front of the real MLflow server that records every request it
 * forwards (method, path, the benchmark's attribution headers, which it strips, and the status and
 * time of MLflow's answer), so that clients in any language can be counted on the same hop.
 */
import { Agent, createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';

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
  const upstream = new URL(target);
  // Kept-alive connections to MLflow: the proxy hop costs every client the same per request.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
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
    const forward = request(
      { agent, host: upstream.hostname, port: upstream.port, method: req.method, path: url, headers },
      (answer) => {
        record.status = answer.statusCode;
        answer.once('end', () => {
          record.durationMs = performance.now() - started;
        });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    take() {
      const taken = seen;
      seen = [];
      return taken;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          agent.destroy();
          resolve();
        });
      }),
  };
}
