/**
 * Names, aliases and `prompts:/` URIs, validated with MLflow's own rules before any request is
 * made, so a typo fails here with a clear message instead of as a server round trip.
 */
import { InvalidInputError } from '../errors';

/** MLflow's PROMPT_NAME_RULE: dots are allowed, `/`, `@`, `:` and spaces are not. */
const PROMPT_NAME_RULE = /^[a-zA-Z0-9_.-]+$/;
/** MLflow's alias rule `^[\w\-]*$` (Python's `\w` is Unicode-aware), at most 255 characters. */
const ALIAS_RULE = /^[\p{L}\p{N}_-]+$/u;
const MAX_ALIAS_LENGTH = 255;
const RESERVED_VERSION_ALIAS = /^[vV]\d+$/;

export function validatePromptName(name: string): string {
  if (name.length === 0) {
    throw new InvalidInputError('Prompt name must be a non-empty string.');
  }
  if (!PROMPT_NAME_RULE.test(name)) {
    throw new InvalidInputError(
      `Invalid prompt name '${name}': a prompt name can only contain alphanumeric characters, ` +
        'hyphens, underscores, and dots.',
    );
  }
  return name;
}

/** An alias as it may be read (`latest` included). */
export function validateAliasName(alias: string): string {
  if (alias.length === 0 || alias.length > MAX_ALIAS_LENGTH || !ALIAS_RULE.test(alias)) {
    throw new InvalidInputError(
      `Invalid alias '${alias}': an alias is 1 to ${MAX_ALIAS_LENGTH} letters, digits, '_' or '-'.`,
    );
  }
  return alias;
}

/** An alias as it may be set or deleted: MLflow reserves `latest` and `v<digits>`. */
export function validateWritableAlias(alias: string): string {
  validateAliasName(alias);
  if (alias.toLowerCase() === 'latest') {
    throw new InvalidInputError(
      "The alias 'latest' (any case) is reserved: it always means the highest version.",
    );
  }
  if (RESERVED_VERSION_ALIAS.test(alias)) {
    throw new InvalidInputError(`The alias '${alias}' is reserved: 'v<number>' names a version.`);
  }
  return alias;
}

/** A version number as the registry stores it: a positive integer. */
export function validateVersion(version: number | string): number {
  const text = String(version);
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new InvalidInputError(`Invalid version '${text}': a version is a positive integer.`);
  }
  return Number(text);
}

export type PromptRef =
  | { readonly name: string; readonly version: number; readonly alias?: undefined }
  | { readonly name: string; readonly alias: string; readonly version?: undefined };

const URI_SCHEME = 'prompts:/';

function improperUri(uri: string): InvalidInputError {
  return new InvalidInputError(
    `Not a proper prompts:/ URI: '${uri}'. Use 'prompts:/<name>/<version>' or 'prompts:/<name>@<alias>'.`,
  );
}

/**
 * Parses what MLflow's `load_prompt` accepts: `prompts:/name/3`, `prompts:/name@alias`, or a bare
 * name, which means `@latest`. Mirrors MLflow's parser (Python's `urlparse` then a split on `/`):
 * a query string is cut off, an authority (`prompts://host/...`) is skipped, a name may contain
 * dots but never `/`, and only digits may follow the `/`.
 */
export function parsePromptUri(uriOrName: string): PromptRef {
  if (!uriOrName.startsWith(URI_SCHEME)) {
    return { name: validatePromptName(uriOrName), alias: 'latest' };
  }
  let path = uriOrName.slice('prompts:'.length);
  const query = path.indexOf('?');
  if (query >= 0) path = path.slice(0, query);
  if (path.startsWith('//')) {
    const slash = path.indexOf('/', 2);
    path = slash >= 0 ? path.slice(slash) : '';
  }
  if (!path.startsWith('/') || path.length <= 1) throw improperUri(uriOrName);
  const parts = path.replace(/^\/+/, '').split('/');
  const [first = '', suffix] = parts;
  if (parts.length > 2 || first.trim() === '') throw improperUri(uriOrName);
  if (suffix !== undefined) {
    if (!/^[0-9]+$/.test(suffix)) throw improperUri(uriOrName);
    return { name: validatePromptName(first), version: validateVersion(suffix) };
  }
  const at = first.lastIndexOf('@');
  if (at < 0) {
    throw new InvalidInputError(
      `Invalid prompt URI '${uriOrName}': give a version ('/3') or an alias ('@production'), ` +
        'or pass the bare name for the latest version.',
    );
  }
  const alias = first.slice(at + 1);
  if (alias.trim() === '') throw improperUri(uriOrName);
  return { name: validatePromptName(first.slice(0, at)), alias: validateAliasName(alias) };
}

export function formatPromptUri(ref: PromptRef): string {
  return ref.version !== undefined
    ? `prompts:/${ref.name}/${ref.version}`
    : `prompts:/${ref.name}@${ref.alias}`;
}
