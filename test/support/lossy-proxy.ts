/**
 * A proxy in front of the real MLflow server that, for requests matching a rule, lets the request
 * reach MLflow and then drops the connection before the answer gets back.
 */
import { startForwardingProxy } from './forwarding-proxy';

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
  let dropped = 0;
  const proxy = await startForwardingProxy(target, (req) => {
    if (!shouldDrop(req.method ?? 'GET', req.url ?? '/')) return undefined;
    dropped += 1;
    return { drop: true };
  });
  return {
    url: proxy.url,
    get dropped() {
      return dropped;
    },
    close: () => proxy.close(),
  };
}
