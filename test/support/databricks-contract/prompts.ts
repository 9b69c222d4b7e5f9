/**
 * The contract server's Unity Catalog prompt API: the routes and messages of MLflow's
 * `unity_catalog_prompt_service.proto` / `unity_catalog_prompt_messages.proto` (MLflow 3.17.2),
 * in memory. It refuses what Unity Catalog refuses as far as MLflow's client code and protos
 * tell: unknown fields (a proto parser would), tag keys with dots, names that are not
 * `catalog.schema.name`, searches without a catalog and schema.
 *
 * Behaviours no MLflow code shows, chosen here and listed in the README as unconfirmed:
 * `@latest` resolves to the highest version; version searches answer highest first; a prompt
 * that has versions cannot be deleted; deleting a missing alias is RESOURCE_DOES_NOT_EXIST; the
 * remaining search filter understands `name LIKE '…'` only; ALREADY_EXISTS is HTTP 409; a link
 * to a trace the workspace does not have is RESOURCE_DOES_NOT_EXIST.
 */
import * as z from 'zod';
import { type ContractRoute, fail } from './http';

interface Tag {
  key: string;
  value: string;
}
interface Version {
  name: string;
  version: number;
  template: string;
  description: string;
  tags: Map<string, string>;
  created: string;
  updated: string;
}
interface PromptRecord {
  name: string;
  description: string;
  tags: Map<string, string>;
  aliases: Map<string, number>;
  versions: Map<number, Version>;
  nextVersion: number;
  created: string;
  updated: string;
}

const NAME = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const ALIAS = /^[\p{L}\p{N}_-]{1,255}$/u;
const tag = z.strictObject({ key: z.string(), value: z.string().optional() });
const linkEntry = z.strictObject({ name: z.string(), version: z.string() });

/** Every message the API reads, as strict objects: an unknown field is refused. */
const bodies = {
  createPrompt: z.strictObject({
    name: z.string(),
    prompt: z.strictObject({
      name: z.string().optional(),
      description: z.string().optional(),
      tags: z.array(tag).optional(),
    }),
  }),
  nameOnly: z.strictObject({ name: z.string().optional() }),
  searchPrompts: z.strictObject({
    catalog_schema: z.strictObject({ catalog_name: z.string(), schema_name: z.string() }).optional(),
    filter: z.string().optional(),
    max_results: z.union([z.number(), z.string()]).optional(),
    page_token: z.string().optional(),
  }),
  createVersion: z.strictObject({
    name: z.string().optional(),
    prompt_version: z.strictObject({
      name: z.string().optional(),
      template: z.string(),
      description: z.string().optional(),
      tags: z.array(tag).optional(),
    }),
  }),
  searchVersions: z.strictObject({
    name: z.string().optional(),
    max_results: z.union([z.number(), z.string()]).optional(),
    page_token: z.string().optional(),
  }),
  setAlias: z.strictObject({
    name: z.string().optional(),
    alias: z.string().optional(),
    version: z.string(),
  }),
  alias: z.strictObject({ name: z.string().optional(), alias: z.string().optional() }),
  setTag: z.strictObject({ name: z.string().optional(), key: z.string(), value: z.string() }),
  tagKey: z.strictObject({ name: z.string().optional(), key: z.string().optional() }),
  version: z.strictObject({ name: z.string().optional(), version: z.string().optional() }),
  setVersionTag: z.strictObject({
    name: z.string().optional(),
    version: z.string().optional(),
    key: z.string(),
    value: z.string(),
  }),
  versionTagKey: z.strictObject({
    name: z.string().optional(),
    version: z.string().optional(),
    key: z.string().optional(),
  }),
  link: z.strictObject({ prompt_versions: z.array(linkEntry), trace_ids: z.array(z.string()) }),
} as const;

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'request';
    fail(400, 'INVALID_PARAMETER_VALUE', `Invalid request: ${where}: ${issue?.message ?? 'malformed'}`);
  }
  return parsed.data as T;
}

function checkTags(tags: readonly { key: string }[] | undefined): void {
  for (const { key } of tags ?? []) {
    if (key === '' || key.includes('.'))
      fail(
        400,
        'INVALID_PARAMETER_VALUE',
        `Invalid tag key '${key}': tag keys cannot be empty or contain '.'.`,
      );
  }
}

const wireTags = (tags: Map<string, string>): Tag[] => [...tags].map(([key, value]) => ({ key, value }));

export interface PromptStore {
  readonly routes: ContractRoute[];
  /** Trace links received: `traceId` → `name/version` entries. */
  readonly traceLinks: Map<string, Set<string>>;
  /** Removes a version directly (a workspace user deleting it in the UI). */
  deleteVersion(name: string, version: number): void;
}

/** `traceExists`: links to a trace the workspace does not have are refused (RESOURCE_DOES_NOT_EXIST). */
export function createPromptStore(traceExists: (traceId: string) => boolean = () => true): PromptStore {
  const prompts = new Map<string, PromptRecord>();
  const traceLinks = new Map<string, Set<string>>();
  const now = () => new Date().toISOString();

  const find = (name: string): PromptRecord => {
    const prompt = prompts.get(name);
    if (!prompt) fail(404, 'RESOURCE_DOES_NOT_EXIST', `Prompt '${name}' does not exist.`);
    return prompt;
  };
  const findVersion = (prompt: PromptRecord, text: string): Version => {
    const version = /^[0-9]+$/.test(text) ? prompt.versions.get(Number(text)) : undefined;
    if (!version)
      fail(404, 'RESOURCE_DOES_NOT_EXIST', `Prompt version '${prompt.name}' version ${text} does not exist.`);
    return version;
  };
  const aliasesOf = (prompt: PromptRecord, version?: number) =>
    [...prompt.aliases]
      .filter(([, v]) => version === undefined || v === version)
      .map(([alias, v]) => ({ alias, version: String(v) }));
  const promptJson = (p: PromptRecord) => ({
    name: p.name,
    creation_timestamp: p.created,
    last_updated_timestamp: p.updated,
    ...(p.description ? { description: p.description } : {}),
    aliases: aliasesOf(p),
    tags: wireTags(p.tags),
  });
  const versionJson = (p: PromptRecord, v: Version) => ({
    name: v.name,
    version: String(v.version),
    creation_timestamp: v.created,
    last_updated_timestamp: v.updated,
    ...(v.description ? { description: v.description } : {}),
    template: v.template,
    aliases: aliasesOf(p, v.version),
    tags: wireTags(v.tags),
  });
  const byAlias = (p: PromptRecord, alias: string): Version => {
    if (alias.toLowerCase() === 'latest') {
      const highest = Math.max(0, ...p.versions.keys());
      if (highest === 0) fail(404, 'RESOURCE_DOES_NOT_EXIST', `Prompt '${p.name}' has no versions.`);
      return p.versions.get(highest) as Version;
    }
    const version = p.aliases.get(alias);
    if (version === undefined)
      fail(404, 'RESOURCE_DOES_NOT_EXIST', `Alias '${alias}' not found for prompt '${p.name}'.`);
    return findVersion(p, String(version));
  };
  const pageOf = <T>(items: T[], maxResults: unknown, pageToken: string | undefined) => {
    const size = Math.min(Number(maxResults ?? 100) || 100, 1000);
    const start = pageToken ? Number(Buffer.from(pageToken, 'base64url').toString()) : 0;
    if (!Number.isInteger(start) || start < 0) fail(400, 'INVALID_PARAMETER_VALUE', 'Invalid page token.');
    const page = items.slice(start, start + size);
    const next =
      start + size < items.length ? Buffer.from(String(start + size)).toString('base64url') : undefined;
    return { page, next };
  };

  const P = '/api/2.0/mlflow/unity-catalog/prompts';
  const routes: ContractRoute[] = [
    {
      method: 'POST',
      path: P,
      handle: ({ body }) => {
        const req = parse(bodies.createPrompt, body);
        if (!NAME.test(req.name))
          fail(
            400,
            'INVALID_PARAMETER_VALUE',
            `Prompt name '${req.name}' is not of the form catalog.schema.name.`,
          );
        if (req.prompt.name !== undefined && req.prompt.name !== req.name)
          fail(400, 'INVALID_PARAMETER_VALUE', 'prompt.name differs from name.');
        checkTags(req.prompt.tags);
        if (prompts.has(req.name)) fail(409, 'ALREADY_EXISTS', `Prompt '${req.name}' already exists.`);
        const created = now();
        const record: PromptRecord = {
          name: req.name,
          description: req.prompt.description ?? '',
          tags: new Map((req.prompt.tags ?? []).map((t) => [t.key, t.value ?? ''])),
          aliases: new Map(),
          versions: new Map(),
          nextVersion: 1,
          created,
          updated: created,
        };
        prompts.set(req.name, record);
        return promptJson(record);
      },
    },
    {
      method: 'POST',
      path: `${P}/search`,
      handle: ({ body }) => {
        const req = parse(bodies.searchPrompts, body);
        if (!req.catalog_schema)
          fail(400, 'INVALID_PARAMETER_VALUE', 'catalog_schema (catalog_name and schema_name) is required.');
        const { catalog_name: c, schema_name: s } = req.catalog_schema;
        let match = (_: string) => true;
        if (req.filter) {
          const like = /^name\s+LIKE\s+'([^']*)'$/i.exec(req.filter.trim());
          if (!like) fail(400, 'INVALID_PARAMETER_VALUE', `Unsupported filter: ${req.filter}`);
          const pattern = new RegExp(
            `^${[...(like[1] as string)].map((ch) => (ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'))).join('')}$`,
          );
          match = (name) => pattern.test(name);
        }
        const found = [...prompts.values()]
          .filter((p) => p.name.startsWith(`${c}.${s}.`) && match(p.name))
          .sort((a, b) => a.name.localeCompare(b.name));
        const { page, next } = pageOf(found, req.max_results, req.page_token);
        return { prompts: page.map(promptJson), ...(next ? { next_page_token: next } : {}) };
      },
    },
    {
      method: 'GET',
      path: `${P}/{name}`,
      handle: ({ params }) => promptJson(find(params.name)),
    },
    {
      method: 'DELETE',
      path: `${P}/{name}`,
      handle: ({ params, body }) => {
        parse(bodies.nameOnly, body);
        const prompt = find(params.name);
        if (prompt.versions.size > 0)
          fail(400, 'INVALID_PARAMETER_VALUE', `Prompt '${prompt.name}' still has versions.`);
        prompts.delete(prompt.name);
        return {};
      },
    },
    {
      method: 'POST',
      path: `${P}/{name}/tags`,
      handle: ({ params, body }) => {
        const req = parse(bodies.setTag, body);
        checkTags([req]);
        const prompt = find(params.name);
        prompt.tags.set(req.key, req.value);
        prompt.updated = now();
        return {};
      },
    },
    {
      method: 'DELETE',
      path: `${P}/{name}/tags/{key}`,
      handle: ({ params, body }) => {
        parse(bodies.tagKey, body);
        const prompt = find(params.name);
        if (!prompt.tags.delete(params.key))
          fail(404, 'RESOURCE_DOES_NOT_EXIST', `Tag '${params.key}' not found on prompt '${prompt.name}'.`);
        return {};
      },
    },
    {
      method: 'POST',
      path: `${P}/{name}/versions`,
      handle: ({ params, body }) => {
        const req = parse(bodies.createVersion, body);
        const prompt = find(params.name);
        checkTags(req.prompt_version.tags);
        try {
          JSON.parse(req.prompt_version.template);
        } catch {
          fail(400, 'INVALID_PARAMETER_VALUE', 'template must be JSON-encoded.');
        }
        const created = now();
        const version: Version = {
          name: prompt.name,
          version: prompt.nextVersion,
          template: req.prompt_version.template,
          description: req.prompt_version.description ?? '',
          tags: new Map((req.prompt_version.tags ?? []).map((t) => [t.key, t.value ?? ''])),
          created,
          updated: created,
        };
        prompt.versions.set(version.version, version);
        prompt.nextVersion += 1;
        prompt.updated = created;
        return versionJson(prompt, version);
      },
    },
    {
      method: 'POST',
      path: `${P}/{name}/versions/search`,
      handle: ({ params, body }) => {
        const req = parse(bodies.searchVersions, body);
        const prompt = find(params.name);
        const all = [...prompt.versions.values()].sort((a, b) => b.version - a.version);
        const { page, next } = pageOf(all, req.max_results, req.page_token);
        return {
          prompt_versions: page.map((v) => versionJson(prompt, v)),
          ...(next ? { next_page_token: next } : {}),
        };
      },
    },
    {
      method: 'GET',
      path: `${P}/{name}/versions/by-alias/{alias}`,
      handle: ({ params }) => {
        const prompt = find(params.name);
        return versionJson(prompt, byAlias(prompt, params.alias));
      },
    },
    {
      method: 'GET',
      path: `${P}/{name}/versions/{version}`,
      handle: ({ params }) => {
        const prompt = find(params.name);
        return versionJson(prompt, findVersion(prompt, params.version));
      },
    },
    {
      method: 'DELETE',
      path: `${P}/{name}/versions/{version}`,
      handle: ({ params, body }) => {
        parse(bodies.version, body);
        const prompt = find(params.name);
        const version = findVersion(prompt, params.version);
        prompt.versions.delete(version.version);
        for (const [alias, v] of prompt.aliases) if (v === version.version) prompt.aliases.delete(alias);
        return {};
      },
    },
    {
      method: 'POST',
      path: `${P}/{name}/versions/{version}/tags`,
      handle: ({ params, body }) => {
        const req = parse(bodies.setVersionTag, body);
        checkTags([req]);
        const version = findVersion(find(params.name), params.version);
        version.tags.set(req.key, req.value);
        version.updated = now();
        return {};
      },
    },
    {
      method: 'DELETE',
      path: `${P}/{name}/versions/{version}/tags/{key}`,
      handle: ({ params, body }) => {
        parse(bodies.versionTagKey, body);
        const version = findVersion(find(params.name), params.version);
        if (!version.tags.delete(params.key))
          fail(404, 'RESOURCE_DOES_NOT_EXIST', `Tag '${params.key}' not found on the version.`);
        return {};
      },
    },
    {
      method: 'POST',
      path: `${P}/{name}/aliases/{alias}`,
      handle: ({ params, body }) => {
        const req = parse(bodies.setAlias, body);
        if (!ALIAS.test(params.alias) || params.alias.toLowerCase() === 'latest')
          fail(400, 'INVALID_PARAMETER_VALUE', `Invalid alias '${params.alias}'.`);
        const prompt = find(params.name);
        const version = findVersion(prompt, req.version);
        prompt.aliases.set(params.alias, version.version);
        return {};
      },
    },
    {
      method: 'DELETE',
      path: `${P}/{name}/aliases/{alias}`,
      handle: ({ params, body }) => {
        parse(bodies.alias, body);
        const prompt = find(params.name);
        if (!prompt.aliases.delete(params.alias))
          fail(
            404,
            'RESOURCE_DOES_NOT_EXIST',
            `Alias '${params.alias}' not found for prompt '${prompt.name}'.`,
          );
        return {};
      },
    },
    {
      method: 'POST',
      path: '/api/2.0/mlflow/unity-catalog/prompt-versions/links-to-traces',
      handle: ({ body }) => {
        const req = parse(bodies.link, body);
        if (req.prompt_versions.length > 25)
          fail(400, 'INVALID_PARAMETER_VALUE', 'At most 25 prompt versions per request.');
        for (const entry of req.prompt_versions) findVersion(find(entry.name), entry.version);
        for (const traceId of req.trace_ids) {
          if (!traceExists(traceId))
            fail(404, 'RESOURCE_DOES_NOT_EXIST', `Trace '${traceId}' does not exist.`);
        }
        for (const traceId of req.trace_ids) {
          const links = traceLinks.get(traceId) ?? new Set<string>();
          for (const entry of req.prompt_versions) links.add(`${entry.name}/${entry.version}`);
          traceLinks.set(traceId, links);
        }
        return {};
      },
    },
  ];

  return {
    routes,
    traceLinks,
    deleteVersion(name, version) {
      const prompt = find(name);
      prompt.versions.delete(version);
      for (const [alias, v] of prompt.aliases) if (v === version) prompt.aliases.delete(alias);
    },
  };
}
