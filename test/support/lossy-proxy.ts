/**
 * A loopback HTTP proxy in front of the real MLflow server that, for requests matching a rule,
 * lets the request reach MLflow and then drops the connection before the answer gets back: the
 * "lost answer" a client timeout produces, made deterministic.
 */
import { createServer, request, type Server } from 'node:http';

export interface LossyProxy {
  readonly url: string;
  /** How many answers were dropped so far. */
  readonly dropped: number;
  close(): Promise<void>;
}

export async function startLossyProxy(
  target: string,
  shouldDrop: (method: string, path: string) => boolean,
): Promise<LossyProxy> {
  const upstream = new URL(target);
  let dropped = 0;
  const server: Server = createServer((req, res) => {
    const drop = shouldDrop(req.method ?? 'GET', req.url ?? '/');
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        if (drop) {
          dropped += 1;
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
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
    get dropped() {
      return dropped;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
