/**
 * A proxy in front of the real MLflow server whose faults a test switches on and off: the whole
 * server down (connections cut), requests whose path matches a rule answered with a status
 * instead of being forwarded, or faults drawn at random (seeded) for a share of the requests.
 * Everything else reaches the real server.
 */
import { startForwardingProxy } from './forwarding-proxy';

/** What a random fault does to one request. */
export const FAULT_KINDS = ['503', '429', 'reset', 'lost', 'slow'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultInjection {
  /** The share of matching requests that get a fault, 0 to 1. */
  readonly rate: number;
  /** The same seed draws the same faults for the same requests (see `injectFaults`). */
  readonly seed: number;
  /**
   * Drawn from evenly (default all): `503` and `429` are answered by the proxy (the server never
   * sees the request; a 429 carries `Retry-After`), `reset` cuts the connection before forwarding,
   * `lost` forwards the request and drops the answer once the server has acted, `slow` holds the
   * request before forwarding it.
   */
  readonly kinds?: readonly FaultKind[];
  /** Only requests whose path (query stripped) matches; default all. */
  readonly paths?: RegExp;
  /** A slow request is held between these many milliseconds (default 300 to 1500). */
  readonly slowMs?: readonly [number, number];
  /** A 429's `Retry-After`, in seconds, one of these (default 0 or 1: short waits). */
  readonly retryAfterSeconds?: readonly number[];
}

export type FaultCounts = Record<FaultKind, number>;

export interface FaultyProxy {
  readonly url: string;
  /** Connections are cut (the server looks down) until `up()`. */
  down(): void;
  /** Back to normal: the server up, no rule, no random faults. */
  up(): void;
  /** Requests whose path matches get `status` instead of the server's answer (until `up()`). */
  failPaths(rule: RegExp, status: number): void;
  /**
   * Requests whose method and path (`POST /api/...`) match reach the server at once, but its
   * answer is held `ms` (until `up()`): the write is made, its caller does not hear of it in time.
   */
  holdAnswers(rule: RegExp, ms: number): void;
  /**
   * Random faults from now on (until `up()` or `stopFaults()`); the counts start again from zero.
   * Each method and path has its own stream of draws from the seed, so the n-th `GET /x` meets
   * the same fault whatever else was requested meanwhile; which of several concurrent requests
   * to one path is the n-th is up to the order they arrive in.
   */
  injectFaults(injection: FaultInjection): void;
  stopFaults(): void;
  /** The random faults injected so far, by kind. */
  readonly injected: Readonly<FaultCounts>;
  /** Requests the random faults applied to (matching `paths`), faulted or not. */
  readonly considered: number;
  /** Requests seen, by path (query stripped). */
  readonly seen: string[];
  close(): Promise<void>;
}

/** mulberry32: a small, fast 32-bit PRNG; plenty for spreading faults. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** FNV-1a of a string, to give each path a stream of its own from one seed. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const noFaults = (): FaultCounts => ({ '503': 0, '429': 0, reset: 0, lost: 0, slow: 0 });

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const state = {
    down: false,
    rule: undefined as RegExp | undefined,
    status: 500,
    injection: undefined as FaultInjection | undefined,
    streams: new Map<string, () => number>(),
    injected: noFaults(),
    considered: 0,
    hold: undefined as { rule: RegExp; ms: number } | undefined,
  };
  const seen: string[] = [];

  /** Three draws a request, always (whether it is faulted or not), so the streams stay aligned. */
  function draw(injection: FaultInjection, key: string): { kind: FaultKind; how: number } | undefined {
    let stream = state.streams.get(key);
    if (!stream) {
      stream = mulberry32(injection.seed ^ fnv1a(key));
      state.streams.set(key, stream);
    }
    const [hit, which, how] = [stream(), stream(), stream()];
    if (hit >= injection.rate) return undefined;
    const kinds = injection.kinds ?? FAULT_KINDS;
    return { kind: kinds[Math.floor(which * kinds.length)] as FaultKind, how };
  }

  const proxy = await startForwardingProxy(target, (req) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const key = `${req.method} ${path}`;
    seen.push(key);
    if (state.down) return { cut: true };
    if (state.rule?.test(path)) return { refuseWith: state.status };
    if (state.hold?.rule.test(key)) return { holdAnswerMs: state.hold.ms };
    const injection = state.injection;
    if (!injection || !(injection.paths?.test(path) ?? true)) return undefined;
    state.considered += 1;
    const fault = draw(injection, key);
    if (fault === undefined) return undefined;
    const { kind, how } = fault;
    state.injected[kind] += 1;
    switch (kind) {
      case '503':
        return { refuseWith: 503 };
      case '429': {
        const choices = injection.retryAfterSeconds ?? [0, 1];
        const seconds = choices[Math.floor(how * choices.length)] ?? 0;
        return { refuseWith: 429, refuseHeaders: { 'retry-after': String(seconds) } };
      }
      case 'reset':
        return { cut: true };
      case 'lost':
        return { drop: true };
      case 'slow': {
        const [low, high] = injection.slowMs ?? [300, 1_500];
        return { delayMs: Math.round(low + how * (high - low)) };
      }
    }
  });
  const stopFaults = () => {
    state.injection = undefined;
  };
  return {
    url: proxy.url,
    seen,
    down: () => {
      state.down = true;
    },
    up: () => {
      state.down = false;
      state.rule = undefined;
      state.hold = undefined;
      stopFaults();
    },
    failPaths: (rule, status) => {
      state.rule = rule;
      state.status = status;
    },
    holdAnswers: (rule, ms) => {
      state.hold = { rule, ms };
    },
    injectFaults: (injection) => {
      if (!(injection.rate >= 0 && injection.rate <= 1)) throw new Error('rate: expected 0 to 1');
      if (injection.kinds?.length === 0) throw new Error('kinds: expected at least one');
      state.injection = injection;
      state.streams = new Map();
      state.injected = noFaults();
      state.considered = 0;
    },
    stopFaults,
    get injected() {
      return { ...state.injected };
    },
    get considered() {
      return state.considered;
    },
    close: () => proxy.close(),
  };
}
