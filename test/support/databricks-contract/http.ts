/**
 * The contract server's plumbing: routes with `{param}` segments, Databricks' JSON error shape
 * (`{"error_code", "message"}`), and the record of every request received, for tests that compare
 * what two clients sent.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface ContractRequest {
  readonly method: string;
  readonly path: string;
  /** Path parameters by name (a route names only those its path has). */
  readonly params: PathParams;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
  readonly raw: Buffer;
}

export interface PathParams {
  readonly name: string;
  readonly version: string;
  readonly alias: string;
  readonly key: string;
  readonly id: string;
  readonly [param: string]: string;
}

export interface ContractAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly contentType?: string;
}

export interface ContractRoute {
  readonly method: string;
  /** `/api/2.0/.../{name}/versions/{version}`: a `{param}` is one path segment. */
  readonly path: string;
  /** Without credentials (OAuth discovery and token). */
  readonly open?: boolean;
  /** A plain body is JSON; a ContractAnswer sets the status and type itself. */
  handle(request: ContractRequest): unknown;
}

export class ContractFailure extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

export function fail(status: number, errorCode: string, message: string): never {
  throw new ContractFailure(status, errorCode, message);
}

export function answer(
  status: number,
  body: unknown,
  contentType?: string,
): ContractAnswer & { __answer: true } {
  return { status, body, ...(contentType ? { contentType } : {}), __answer: true };
}

export function isAnswer(value: unknown): value is ContractAnswer {
  return typeof value === 'object' && value !== null && '__answer' in value;
}

interface Compiled {
  readonly route: ContractRoute;
  readonly pattern: RegExp;
  readonly names: string[];
  /** Literal characters: more literal wins (`versions/search` before `versions/{version}`). */
  readonly weight: number;
}

export function compileRoutes(routes: readonly ContractRoute[]) {
  const compiled: Compiled[] = routes.map((route) => {
    const names: string[] = [];
    const source = route.path
      .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
      .replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
    return {
      route,
      pattern: new RegExp(`^${source}$`),
      names,
      weight: route.path.replace(/\{\w+\}/g, '').length,
    };
  });
  compiled.sort((a, b) => b.weight - a.weight);
  return (method: string, path: string) => {
    let pathMatched = false;
    for (const c of compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (c.route.method !== method) continue;
      const params = Object.fromEntries(
        c.names.map((n, i) => [n, decodeURIComponent(m[i + 1] as string)]),
      ) as PathParams;
      return { route: c.route, params };
    }
    return pathMatched ? 'method' : undefined;
  };
}
