/**
 * The OSS dialect's `resolvePrompts`: many prompts resolved together, each by its own alias or
 * pinned version, in as few requests as the tracking server's search API allows:
 *
 * 1. one `registered-models/search` (`name IN (...)`, up to a hundred names each) answers every
 *    prompt's aliases, tags and latest version (with its template): a target on its latest
 *    version is done;
 * 2. the others are fetched by `model-versions/search` over a version range
 *    (`name IN (...) AND version_number >= low AND version_number <= high`; MLflow's filter has
 *    neither OR nor `version_number IN`). Targets are grouped so that no range spans more than
 *    MAX_RANGE_ROWS versions, and the groups are searched concurrently: one request when the
 *    versions in play are close together (the usual case), one per group when they are far apart,
 *    so at worst one per lagging prompt, all in the same second round trip.
 * Lone lagging targets are fetched by version in the same round as the range searches, so a batch
 * takes two rounds at most. A version missing from its range was deleted: NOT_FOUND.
 */
import { NotFoundError } from '../../errors';
import type { MissingPrompt, PromptTarget, ResolvedPrompt, ResolveOptions } from '../dialect';
import type { HttpClient } from '../http';
import type { Prompt, PromptVersion } from '../prompt-version';
import {
  searchModelVersionsResponse,
  searchRegisteredModelsResponse,
  type WireModelVersion,
  type WireRegisteredModel,
} from '../schemas';
import { isPromptModel, newestVersion, toPrompt, toPromptVersion } from './oss-mapping';

/** Above this many versions in one range, the range is split. */
export const MAX_RANGE_ROWS = 200;
const NAME_CHUNK = 100;
/** Registered models that are prompts, in MLflow's search filter syntax. */
export const PROMPT_FILTER = "tags.`mlflow.prompt.is_prompt` = 'true'";
/** The same filter in model-version search syntax (`tag.`). */
export const PROMPT_VERSION_FILTER = "tag.`mlflow.prompt.is_prompt` = 'true'";

/** A filter clause for these names; they must have passed validatePromptName (no quote in them). */
export const nameIn = (names: readonly string[]) => `name IN (${names.map((n) => `'${n}'`).join(', ')})`;

interface Plan {
  readonly target: PromptTarget;
  readonly model: WireRegisteredModel;
  readonly latest: WireModelVersion | undefined;
  readonly wanted: number;
}

/** Groups targets (sorted by version) so that each group's range holds at most MAX_RANGE_ROWS versions. */
export function rangeGroups(
  plans: readonly { wanted: number; latest: number }[],
): { low: number; high: number; members: number[] }[] {
  const order = plans.map((p, i) => ({ ...p, i })).sort((a, b) => a.wanted - b.wanted);
  const groups: { low: number; high: number; members: number[] }[] = [];
  for (const p of order) {
    const group = groups.at(-1);
    if (group) {
      const high = p.wanted;
      const rows = [...group.members, p.i].reduce((sum, i) => {
        const q = plans[i] as { wanted: number; latest: number };
        return sum + Math.max(0, Math.min(high, q.latest) - group.low + 1);
      }, 0);
      if (rows <= MAX_RANGE_ROWS) {
        group.high = high;
        group.members.push(p.i);
        continue;
      }
    }
    groups.push({ low: p.wanted, high: p.wanted, members: [p.i] });
  }
  return groups;
}

/** Runs `fetch` page after page (MLflow's `next_page_token`), handing each answer to `take`. */
async function everyPage<R extends { readonly next_page_token?: string | undefined }>(
  fetch: (pageToken: string | undefined) => Promise<R>,
  take: (response: R) => void,
): Promise<void> {
  let pageToken: string | undefined;
  do {
    const response = await fetch(pageToken);
    take(response);
    pageToken = response.next_page_token || undefined;
  } while (pageToken);
}

export function createPromptResolver(
  http: HttpClient,
  getPromptVersion: (name: string, version: number) => Promise<PromptVersion>,
) {
  const operation = 'resolvePrompts';

  /** The prompts of these names, searched 100 names at a time; `called` names the client call. */
  async function searchModels(
    names: readonly string[],
    called: string = operation,
  ): Promise<Map<string, WireRegisteredModel>> {
    const models = new Map<string, WireRegisteredModel>();
    for (let i = 0; i < names.length; i += NAME_CHUNK) {
      const chunk = names.slice(i, i + NAME_CHUNK);
      await everyPage(
        (pageToken) =>
          http.call({
            operation: called,
            method: 'GET',
            path: '/2.0/mlflow/registered-models/search',
            query: {
              filter: `${PROMPT_FILTER} AND ${nameIn(chunk)}`,
              max_results: chunk.length,
              page_token: pageToken,
            },
            schema: searchRegisteredModelsResponse,
          }),
        (response) => {
          for (const model of response.registered_models) models.set(model.name, model);
        },
      );
    }
    return models;
  }

  /** Versions `low`..`high` of the named prompts, keyed `name/version`. */
  async function searchVersionRange(
    names: readonly string[],
    low: number,
    high: number,
  ): Promise<Map<string, WireModelVersion>> {
    const found = new Map<string, WireModelVersion>();
    await everyPage(
      (pageToken) =>
        http.call({
          operation,
          method: 'GET',
          path: '/2.0/mlflow/model-versions/search',
          query: {
            filter:
              `${nameIn(names)} AND ${PROMPT_VERSION_FILTER} ` +
              `AND version_number >= ${low} AND version_number <= ${high}`,
            max_results: MAX_RANGE_ROWS,
            page_token: pageToken,
          },
          schema: searchModelVersionsResponse,
        }),
      (response) => {
        for (const version of response.model_versions)
          found.set(`${version.name}/${version.version}`, version);
      },
    );
    return found;
  }

  async function resolvePrompts(
    targets: readonly PromptTarget[],
    options: ResolveOptions,
  ): Promise<(ResolvedPrompt | MissingPrompt)[]> {
    const models = await searchModels([...new Set(targets.map((t) => t.name))]);
    const missing = new Map<number, NotFoundError>();
    const miss = (index: number, error: NotFoundError) => {
      // Without allowMissing, a missing one fails the batch before any further request.
      if (!options.allowMissing) throw error;
      missing.set(index, error);
    };

    const plans: (Plan | undefined)[] = targets.map((target, index) => {
      const model = models.get(target.name);
      if (model === undefined) {
        miss(index, new NotFoundError(`Prompt '${target.name}' not found.`, { registry: { operation } }));
        return undefined;
      }
      const latest = newestVersion(model);
      let wanted: string | undefined;
      if (target.version !== undefined) wanted = String(target.version);
      else if (target.alias?.toLowerCase() === 'latest') wanted = latest?.version;
      else wanted = model.aliases.find((a) => a.alias === target.alias)?.version;
      if (wanted === undefined) {
        const what = target.alias?.toLowerCase() === 'latest' ? 'no versions' : `no alias '${target.alias}'`;
        miss(index, new NotFoundError(`Prompt '${target.name}' has ${what}.`, { registry: { operation } }));
        return undefined;
      }
      return { target, model, latest, wanted: Number(wanted) };
    });

    // The search lists versions without their aliases; the prompt's alias table has them.
    const withAliases = (model: WireRegisteredModel, version: WireModelVersion) =>
      toPromptVersion(operation, {
        ...version,
        aliases: model.aliases.filter((a) => a.version === version.version).map((a) => a.alias),
      });
    const results: (PromptVersion | undefined)[] = plans.map((p) =>
      p?.latest !== undefined && Number(p.latest.version) === p.wanted
        ? withAliases(p.model, p.latest)
        : undefined,
    );
    const behind = plans.flatMap((p, i) => (p !== undefined && results[i] === undefined ? [{ p, i }] : []));
    if (behind.length > 0) {
      const groups = rangeGroups(
        behind.map(({ p }) => ({ wanted: p.wanted, latest: Number(p.latest?.version ?? p.wanted) })),
      );
      const fetchOne = async ({ p, i }: { p: Plan; i: number }) => {
        try {
          results[i] = await getPromptVersion(p.target.name, p.wanted);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          miss(i, error);
        }
      };
      // Every group in the same round: a range search for a group, the version itself for a lone target.
      await Promise.all(
        groups.map(async (group) => {
          const members = group.members.map((m) => behind[m] as { p: Plan; i: number });
          if (members.length === 1) return fetchOne(members[0] as { p: Plan; i: number });
          const found = await searchVersionRange(
            [...new Set(members.map(({ p }) => p.target.name))],
            group.low,
            group.high,
          );
          for (const { p, i } of members) {
            const version = found.get(`${p.target.name}/${p.wanted}`);
            // The search lists every version in the range: one it lacks does not exist (deleted).
            if (version) results[i] = withAliases(p.model, version);
            else
              miss(
                i,
                new NotFoundError(`Prompt '${p.target.name}' version ${p.wanted} not found.`, {
                  registry: { operation },
                }),
              );
          }
        }),
      );
    }
    return targets.map((target, i) => {
      const p = plans[i];
      const version = results[i];
      if (p === undefined || version === undefined) {
        return { target, missing: missing.get(i) as NotFoundError };
      }
      return { target, version, promptTags: toPrompt(p.model).tags };
    });
  }
  /** The prompts of these names that exist, in as few searches as the name chunks allow. */
  async function findPrompts(names: readonly string[]): Promise<Prompt[]> {
    const models = await searchModels([...new Set(names)], 'findPrompts');
    return [...models.values()].filter(isPromptModel).map(toPrompt);
  }

  return { resolvePrompts, findPrompts };
}
