/**
 * A loopback HTTP proxy in front of a real server, for tests and benchmarks that need to see or
 * disturb the traffic: counting requests, attributing them, or dropping an answer after the
 * server has acted on the request (the "lost answer" a client timeout produces, made exact).
 */
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';

export interface RequestObserver {
  /** Forward the request, then drop the connection instead of passing the answer back. */
  readonly drop?: boolean;
  /** Do not forward: answer with this status (a server failing) ... */
  readonly refuseWith?: number;
  /** Headers sent with `refuseWith` (a `Retry-After`). */
  readonly refuseHeaders?: Readonly<Record<string, string>>;
  /** ... or close the connection at once (a server that is down). */
  readonly cut?: boolean;
  /**
   * Hold the request this long before forwarding it (a slow answer: the server has not acted
   * while it waits). A client that gives up meanwhile is not forwarded at all.
   */
  readonly delayMs?: number;
  /**
   * Forward at once, but hold the server's answer this long (the server has acted; its answer is
   * late): a client that gives up meanwhile never learns the outcome.
   */
  readonly holdAnswerMs?: number;
  /** The upstream answer's status, when its headers arrive. */
  readonly onAnswer?: (status: number) => void;
  /** The upstream answer has been read to its end. */
  readonly onEnd?: () => void;
}

/**
 * Called for each request before it is forwarded; `headers` (already carrying the upstream host)
 * may be edited in place.
 */
export type OnRequest = (req: IncomingMessage, headers: IncomingHttpHeaders) => RequestObserver | undefined;

export interface ForwardingProxy {
  readonly url: string;
  close(): Promise<void>;
}

export async function startForwardingProxy(
  target: string,
  onRequest: OnRequest = () => undefined,
): Promise<ForwardingProxy> {
  const upstream = new URL(target);
  // Kept-alive connections upstream: the hop costs every client the same per request.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  /** Delayed requests not yet forwarded: cleared on close. */
  const held = new Set<NodeJS.Timeout>();
  let closed = false;
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
    const observer = onRequest(req, headers) ?? {};
    if (observer.cut) {
      req.socket.destroy();
      return;
    }
    if (observer.refuseWith !== undefined) {
      req.resume();
      res.writeHead(observer.refuseWith, { 'content-type': 'text/plain', ...observer.refuseHeaders });
      res.end(`refused by the test proxy (${observer.refuseWith})`);
      return;
    }
    if (observer.delayMs !== undefined && observer.delayMs > 0) {
      // The body waits in the paused request stream meanwhile.
      const timer = setTimeout(() => {
        held.delete(timer);
        if (closed || req.socket.destroyed) return;
        forward(req, res, headers, observer);
      }, observer.delayMs);
      held.add(timer);
      return;
    }
    forward(req, res, headers, observer);
  });

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    headers: IncomingHttpHeaders,
    observer: RequestObserver,
  ): void {
    const upstreamRequest = request(
      { agent, host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        observer.onAnswer?.(answer.statusCode ?? 502);
        answer.once('end', () => observer.onEnd?.());
        if (observer.drop) {
          answer.resume();
          answer.once('end', () => req.socket.destroy());
          return;
        }
        const pass = () => {
          if (closed || req.socket.destroyed) {
            answer.resume();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        };
        if (observer.holdAnswerMs === undefined || observer.holdAnswerMs <= 0) return pass();
        const timer = setTimeout(() => {
          held.delete(timer);
          pass();
        }, observer.holdAnswerMs);
        held.add(timer);
      },
    );
    upstreamRequest.on('error', () => req.socket.destroy());
    req.pipe(upstreamRequest);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        closed = true;
        for (const timer of held) clearTimeout(timer);
        held.clear();
        server.closeAllConnections();
        server.close(() => {
          agent.destroy();
          resolve();
        });
      }),
  };
}
