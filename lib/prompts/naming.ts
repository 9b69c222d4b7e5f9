/**
 * How a prompt's short name (`orchestrator`) becomes its registry name. With a Unity Catalog
 * catalog and schema set, the seed's form `{catalog}.{schema}.prompt_{name}`; without, the short
 * name itself (optionally with a prefix, to keep several agents apart on one server).
 */
import { InvalidInputError } from '../errors';
import { validatePromptName } from './names';

export interface NamingOptions {
  readonly catalog?: string | undefined;
  readonly schema?: string | undefined;
  /** Prepended to the short name when no catalog/schema is set, e.g. `health.`. */
  readonly prefix?: string | undefined;
}

const UC_PART = /^[a-zA-Z0-9_-]+$/;

export function registryName(shortName: string, naming: NamingOptions = {}): string {
  validatePromptName(shortName);
  const { catalog, schema, prefix } = naming;
  if (Boolean(catalog) !== Boolean(schema)) {
    throw new InvalidInputError('Set both the catalog and the schema for Unity Catalog names, or neither.');
  }
  if (catalog && schema) {
    for (const [label, part] of [
      ['catalog', catalog],
      ['schema', schema],
    ] as const) {
      if (!UC_PART.test(part)) {
        throw new InvalidInputError(`Invalid ${label} '${part}': letters, digits, '_' and '-' only.`);
      }
    }
    return `${catalog}.${schema}.prompt_${shortName}`;
  }
  return validatePromptName(`${prefix ?? ''}${shortName}`);
}

export function namingFromEnv(env: NodeJS.ProcessEnv): NamingOptions {
  return {
    catalog: env.PROMPT_CATALOG || undefined,
    schema: env.PROMPT_SCHEMA || undefined,
    prefix: env.PROMPT_NAME_PREFIX || undefined,
  };
}

/** The short name behind a registry name, or `undefined` when the name is not of this naming. */
export function shortNameOf(registryName: string, naming: NamingOptions = {}): string | undefined {
  const { catalog, schema, prefix } = naming;
  const head = catalog && schema ? `${catalog}.${schema}.prompt_` : (prefix ?? '');
  return registryName.startsWith(head) && registryName.length > head.length
    ? registryName.slice(head.length)
    : undefined;
}
