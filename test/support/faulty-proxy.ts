/**
 * A proxy in front of the real MLflow server whose faults a test switches on and off: the whole
 * server down (connections cut), or requests whose path matches a rule answered with a status
 * instead of being forwarded. Everything else reaches the real server.
 */
import { startForwardingProxy } from './forwarding-proxy';

export interface FaultyProxy {
  readonly url: string;
  /** Connections are cut (the server looks down) until `up()`. */
  down(): void;
  up(): void;
  /** Requests whose path matches get `status` instead of the server's answer (until `up()`). */
  failPaths(rule: RegExp, status: number): void;
  /** Requests seen, by path (query stripped). */
  readonly seen: string[];
  close(): Promise<void>;
}

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const state = { down: false, rule: undefined as RegExp | undefined, status: 500 };
  const seen: string[] = [];
  const proxy = await startForwardingProxy(target, (req) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    seen.push(`${req.method} ${path}`);
    if (state.down) return { cut: true };
    if (state.rule?.test(path)) return { refuseWith: state.status };
    return undefined;
  });
  return {
    url: proxy.url,
    seen,
    down: () => {
      state.down = true;
    },
    up: () => {
      state.down = false;
      state.rule = undefined;
    },
    failPaths: (rule, status) => {
      state.rule = rule;
      state.status = status;
    },
    close: () => proxy.close(),
  };
}
