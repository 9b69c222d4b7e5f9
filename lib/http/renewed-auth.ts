/**
 * Credentials whose token changes while a client lives (a Databricks service principal's OAuth
 * token; a personal access token is the case that never changes), and the one way every client
 * here sends with them: the header asked for before the request; on a 401, the credentials told,
 * and the request sent once more at once, within what is left of the attempt's time, but only
 * when they hand out a different header (re-sending a refused token cannot help). A 401 means the
 * request was not acted on, so the re-send is safe for a create too.
 */
import type { Dispatcher } from 'undici';
import { type Exchange, exchange } from './undici-parts';

export interface RenewedAuth {
  /** The `Authorization` header value, getting a token first when there is none that is fresh. */
  authorization(signal?: AbortSignal): Promise<string>;
  /** The server answered 401 to `header`: drop it, so that the next authorization() is new. */
  refused(header: string): void;
}

/** Text without the secrets given (none shorter than 6, which would blank ordinary words), nor `header`'s token. */
export function redact(text: string, secrets: readonly string[], header?: string): string {
  const sent = header?.split(' ').at(-1);
  const all = [...secrets, ...(sent ? [sent] : [])].filter((secret) => secret.length >= 6);
  return all.reduce((out, secret) => out.split(secret).join('[redacted]'), text);
}

export interface RenewingSend {
  readonly answer: Exchange;
  /** The header the answer was given to (for redaction). */
  readonly header: string | undefined;
  /** Requests sent: 1, or 2 after a renewal. */
  readonly sent: number;
}

/**
 * One exchange with `credentials` (or with the request's own headers when there are none),
 * renewed once after a 401. Throws what getting a token throws, and network failures.
 */
export async function exchangeRenewing(
  dispatcher: Dispatcher,
  request: Pick<Dispatcher.RequestOptions, 'origin' | 'path' | 'method' | 'headers' | 'body'>,
  credentials: RenewedAuth | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<RenewingSend> {
  const started = Date.now();
  const send = (header: string | undefined, ms: number) =>
    exchange(
      dispatcher,
      {
        ...request,
        headers: { ...(request.headers as object), ...(header ? { authorization: header } : {}) },
      },
      ms,
      signal,
    );
  let header = credentials ? await credentials.authorization(signal) : undefined;
  const answer = await send(header, Math.max(1, timeoutMs - (Date.now() - started)));
  if (answer.status !== 401 || !credentials || header === undefined) return { answer, header, sent: 1 };
  credentials.refused(header);
  const next = await credentials.authorization(signal);
  if (next === header) return { answer, header, sent: 1 };
  header = next;
  return { answer: await send(header, Math.max(1, timeoutMs - (Date.now() - started))), header, sent: 2 };
}
