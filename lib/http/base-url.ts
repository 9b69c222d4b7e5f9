/** Base URLs of the services we call (the registry, the model, the promote API). */
import { InvalidInputError } from '../errors';

/**
 * An http(s) base URL without credentials, query or trailing slash; `what` names it in errors.
 * Credentials a user put in the URL are never printed or sent as such.
 */
export function normaliseBaseUrl(uri: string, what: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    // The URL itself is not echoed: it may carry credentials.
    throw new InvalidInputError(`The ${what} is not a valid URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`The ${what} must be http(s), got '${url.protocol}'.`);
  }
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

export const normaliseTrackingUri = (uri: string) => normaliseBaseUrl(uri, 'MLflow tracking URI');

/** Hosts that never leave the machine: the one place a credential may travel without TLS. */
export function isLoopbackUrl(url: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}
