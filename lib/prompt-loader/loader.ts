/**
 * Loads an agent's prompts by alias (or pinned version) with a cache made for Lambda, usable by
 * any function:
 *
 * - cold: every prompt in one registry batch (resolvePrompts: 1–2 requests), awaited, bounded by
 *   `budgetMs`; warm within `ttlMs`: no request at all;
 * - past the TTL: stale-while-revalidate, made safe for Lambda. The invocation gets the cached
 *   versions at once and the refresh runs alongside its other work; the caller awaits
 *   `load.refresh` before it returns (work left running after a Lambda answers is frozen, and
 *   lost or resumed at a random later time);
 * - the registry failing: the last good version, flagged `stale`; none yet (a cold start with the
 *   registry down): the bundled snapshot, flagged `fallback`. Never a placeholder: a prompt with
 *   neither fails the load with the registry's error;
 * - one fetch in flight per prompt (concurrent invocations share it), failures not cached as
 *   values, and after a failed refresh the next attempt waits `retryAfterFailureMs`.
 *
 * A pinned version never changes, so it never expires; an alias may move at any time, so a
 * promotion reaches a warm instance within `ttlMs` plus one invocation.
 *
 * Experiments (lib/experiments): a prompt whose tag holds a running experiment on the alias it is
 * loaded by has its variant aliases loaded too, in the same batches as the prompts (no request of
 * their own once the experiment is known; the first sight of one, on a cold load, adds a batch).
 * A variant is never served from a cache that failed, nor from the snapshot, and a variant that
 * cannot be loaded fails nothing: it is absent, and the request is served control.
 */
import { NotFoundError, PromptOpsError, UnavailableError } from '../errors';
import {
  EXPERIMENT_TAG,
  type ExperimentDefinition,
  isLive,
  parseExperimentTag,
} from '../experiments/definition';
import type { Template } from '../prompts/template';
import type { JsonObject, MissingPrompt, PromptTarget, ResolvedPrompt } from '../registry';
import { deadlineIn, settleWithin, withDeadline } from '../runtime/deadline';
import { fallbackFor, type PromptSnapshot, type SnapshotEntry } from './snapshot';

/** Where a served prompt came from, best first. */
export const PROMPT_SOURCES = ['registry', 'cache', 'stale', 'fallback'] as const;
export type PromptSource = (typeof PROMPT_SOURCES)[number];

/** One prompt the agent loads: its short name and where it comes from. */
export interface LoadSpec {
  readonly key: string;
  readonly target: PromptTarget;
  /** The key the agent's contract checks it as (a variant is checked as its prompt). */
  readonly contractKey?: string;
}

/** The cache key of a prompt's variant alias (prompt keys hold no `@`). */
export const variantKey = (key: string, alias: string) => `${key}@${alias}`;

export interface LoadedPrompt {
  readonly key: string;
  /** The registry name. */
  readonly name: string;
  /** Null only for a fallback taken from a file. */
  readonly version: number | null;
  /** The alias it was loaded by; null when pinned to a version, or a fallback taken from a file. */
  readonly alias: string | null;
  readonly source: PromptSource;
  readonly template: Template;
  readonly modelConfig: JsonObject | undefined;
  readonly responseFormat: JsonObject | undefined;
  /** The prompt's tags as last read from the registry (`_mlflow_experiment_ids`); empty for a fallback. */
  readonly promptTags: Readonly<Record<string, string>>;
}

/** Why a prompt was served stale or from the fallback. */
export interface LoadProblem {
  readonly key: string;
  readonly source: 'stale' | 'fallback';
  readonly cause: unknown;
}

export interface RefreshOutcome {
  readonly refreshed: readonly string[];
  readonly failed: readonly { readonly key: string; readonly cause: unknown }[];
}

export interface PromptLoad {
  /** By key, in the order of the loader's specs. */
  readonly prompts: ReadonlyMap<string, LoadedPrompt>;
  /** By prompt key: the running experiment on the alias it was loaded by. */
  readonly experiments: ReadonlyMap<string, ExperimentDefinition>;
  /** By variantKey(key, alias): the variants that could be loaded (fresh or cached, never stale). */
  readonly variants: ReadonlyMap<string, LoadedPrompt>;
  readonly problems: readonly LoadProblem[];
  /** The refresh running alongside the invocation; await it before returning. Never rejects. */
  readonly refresh: Promise<RefreshOutcome> | undefined;
}

export type Resolve = (targets: readonly PromptTarget[]) => Promise<(ResolvedPrompt | MissingPrompt)[]>;

export interface PromptLoaderOptions {
  readonly specs: readonly LoadSpec[];
  /** The registry batch, e.g. `(t) => registry.resolvePrompts(t, { allowMissing: true })`. */
  readonly resolve: Resolve;
  /** The bundled snapshot; read only when a fallback is needed. */
  readonly snapshot: () => PromptSnapshot | undefined | Promise<PromptSnapshot | undefined>;
  readonly ttlMs: number;
  /** The most a fetch (cold or refresh) may take before it counts as failed. */
  readonly budgetMs: number;
  /** After a failed refresh, how long until the next attempt (default: the TTL, at most 5 s). */
  readonly retryAfterFailureMs?: number;
  /**
   * Throws when the agent cannot use a template (its variable contract); such a version is not
   * served, from the registry or from the snapshot.
   */
  readonly validate?: (key: string, template: Template) => void;
  readonly now?: () => number;
}

export interface PromptLoader {
  load(): Promise<PromptLoad>;
  /** Records a prompt tag the caller has just written (so it is not written again). */
  notePromptTag(key: string, tag: string, value: string): void;
  /** Registry batches started so far (tests, benchmarks). */
  readonly fetchCount: number;
  clear(): void;
}

type Content = Omit<LoadedPrompt, 'source'>;

interface Entry {
  content: Content;
  /** When the registry last answered for it; -Infinity for a fallback (always due a refresh). */
  fetchedAt: number;
  fromFallback: boolean;
  /** The last refresh's failure, cleared by a success. */
  failure: unknown;
  failedAt: number;
}

type Outcome = { readonly content: Content } | { readonly error: unknown };

/** Every prompt the load could serve neither from the registry nor from a cache or fallback. */
export class PromptsUnavailableError extends UnavailableError {}

function contentOf(key: string, alias: string | null, resolved: ResolvedPrompt): Content {
  const v = resolved.version;
  return {
    key,
    name: v.name,
    version: v.version,
    alias,
    template: v.template,
    modelConfig: v.modelConfig,
    responseFormat: v.responseFormat,
    promptTags: resolved.promptTags,
  };
}

function contentOfEntry(key: string, entry: SnapshotEntry): Content {
  return {
    key,
    name: entry.name,
    version: entry.version,
    alias: entry.alias,
    template: entry.template as Template,
    modelConfig: (entry.modelConfig ?? undefined) as JsonObject | undefined,
    responseFormat: (entry.responseFormat ?? undefined) as JsonObject | undefined,
    promptTags: {},
  };
}

export function createPromptLoader(options: PromptLoaderOptions): PromptLoader {
  const now = options.now ?? Date.now;
  const retryAfterFailureMs = options.retryAfterFailureMs ?? Math.min(options.ttlMs, 5_000);
  const cache = new Map<string, Entry>();
  const pending = new Map<string, Promise<Outcome>>();
  /** Why a snapshot entry was not used (the agent cannot use it), for the error that follows. */
  const fallbackRefusals = new Map<string, unknown>();
  const bySpecKey = new Map(options.specs.map((s) => [s.key, s]));
  /** When each variant last failed to load: it is not asked for again before retryAfterFailureMs. */
  const variantFailedAt = new Map<string, number>();
  let fetchCount = 0;

  /** Parsed tags by their raw value (a tag is parsed once, not on every load); bounded. */
  const parsedTags = new Map<string, ExperimentDefinition>();
  function parsedExperiment(name: string, raw: string): ExperimentDefinition {
    const known = parsedTags.get(raw);
    if (known) return known;
    const definition = parseExperimentTag(name, raw);
    if (parsedTags.size >= 64) parsedTags.clear();
    parsedTags.set(raw, definition);
    return definition;
  }

  /** The running experiment of a base spec, read from its cached prompt tags, when it applies. */
  function experimentOf(spec: LoadSpec): ExperimentDefinition | undefined {
    const entry = cache.get(spec.key);
    const raw = entry?.content.promptTags[EXPERIMENT_TAG];
    if (!entry || entry.fromFallback || raw === undefined || spec.target.alias === undefined)
      return undefined;
    try {
      const definition = parsedExperiment(entry.content.name, raw);
      // An experiment splits its control alias's traffic (a stage loading another alias is not in
      // it), while it is live: before its start or after its end, nothing is loaded or tagged.
      return isLive(definition, now()) && definition.control === spec.target.alias ? definition : undefined;
    } catch {
      return undefined;
    }
  }

  /** The variants of every running experiment, as specs (not those that failed a moment ago). */
  function variantSpecs(t: number): LoadSpec[] {
    return options.specs.flatMap((spec) =>
      (experimentOf(spec)?.variants ?? [])
        .map((v) => ({
          key: variantKey(spec.key, v.alias),
          target: { name: spec.target.name, alias: v.alias },
          contractKey: spec.key,
        }))
        .filter(
          (v) =>
            cache.has(v.key) ||
            t - (variantFailedAt.get(v.key) ?? Number.NEGATIVE_INFINITY) >= retryAfterFailureMs,
        ),
    );
  }

  const aliasOf = (spec: LoadSpec) => spec.target.alias ?? null;

  function isDue(spec: LoadSpec, entry: Entry, t: number): boolean {
    if (entry.failure !== undefined && t - entry.failedAt < retryAfterFailureMs) return false;
    if (entry.fromFallback) return true;
    if (spec.target.version !== undefined) return false;
    return t - entry.fetchedAt >= options.ttlMs;
  }

  /** One registry batch for the specs not already being fetched; every spec's outcome. */
  function fetchAll(specs: readonly LoadSpec[], budgetMs = options.budgetMs): Promise<Outcome[]> {
    const fresh = specs.filter((s) => !pending.has(s.key));
    if (fresh.length > 0) {
      fetchCount += 1;
      const deadline = deadlineIn(budgetMs);
      const batch = settleWithin(
        budgetMs,
        withDeadline(deadline, () => options.resolve(fresh.map((s) => s.target))),
        () => new UnavailableError(`The registry did not answer within ${budgetMs} ms.`),
      );
      fresh.forEach((spec, index) => {
        const outcome = batch.then(
          (results): Outcome => {
            const result = results[index];
            if (result === undefined) return { error: new NotFoundError(`No answer for '${spec.key}'.`) };
            if ('missing' in result) return { error: result.missing };
            try {
              options.validate?.(spec.contractKey ?? spec.key, result.version.template);
            } catch (error) {
              return { error };
            }
            return { content: contentOf(spec.key, aliasOf(spec), result) };
          },
          (error: unknown): Outcome => ({ error }),
        );
        pending.set(spec.key, outcome);
        void outcome.finally(() => {
          if (pending.get(spec.key) === outcome) pending.delete(spec.key);
        });
      });
    }
    return Promise.all(specs.map((s) => pending.get(s.key) as Promise<Outcome>));
  }

  /** The snapshot's entry for `spec`, when there is one the agent can use. */
  async function usableFallback(spec: LoadSpec): Promise<{ entry?: SnapshotEntry; refused?: unknown }> {
    const entry = fallbackFor(await options.snapshot(), spec.key, spec.target);
    if (entry === undefined) return {};
    try {
      options.validate?.(spec.key, entry.template as Template);
      return { entry };
    } catch (refused) {
      return { refused };
    }
  }

  /** Puts an outcome into the cache; true when the registry answered for it. */
  async function apply(spec: LoadSpec, outcome: Outcome): Promise<boolean> {
    const t = now();
    if ('content' in outcome) {
      variantFailedAt.delete(spec.key);
      cache.set(spec.key, {
        content: outcome.content,
        fetchedAt: t,
        fromFallback: false,
        failure: undefined,
        failedAt: 0,
      });
      return true;
    }
    if (spec.contractKey !== undefined) {
      // A variant is served fresh or not at all: control takes its traffic meanwhile.
      cache.delete(spec.key);
      variantFailedAt.set(spec.key, t);
      return false;
    }
    const entry = cache.get(spec.key);
    if (entry) {
      entry.failure = outcome.error;
      entry.failedAt = t;
      return false;
    }
    const fallback = await usableFallback(spec);
    if (fallback.refused !== undefined) fallbackRefusals.set(spec.key, fallback.refused);
    if (fallback.entry) {
      cache.set(spec.key, {
        content: contentOfEntry(spec.key, fallback.entry),
        fetchedAt: Number.NEGATIVE_INFINITY,
        fromFallback: true,
        failure: outcome.error,
        failedAt: t,
      });
    }
    return false;
  }

  const sourceOf = (entry: Entry): PromptSource =>
    entry.fromFallback ? 'fallback' : entry.failure !== undefined ? 'stale' : 'cache';

  async function refresh(specs: readonly LoadSpec[], budgetMs?: number): Promise<RefreshOutcome> {
    const outcomes = await fetchAll(specs, budgetMs);
    const refreshed: string[] = [];
    const failed: { key: string; cause: unknown }[] = [];
    for (const [i, spec] of specs.entries()) {
      const outcome = outcomes[i] as Outcome;
      if (await apply(spec, outcome)) refreshed.push(spec.key);
      else failed.push({ key: spec.key, cause: 'error' in outcome ? outcome.error : undefined });
    }
    return { refreshed, failed };
  }

  async function load(): Promise<PromptLoad> {
    const t = now();
    const specs = [...options.specs, ...variantSpecs(t)];
    const missing = specs.filter((s) => !cache.has(s.key));
    // A variant is refreshed with its prompt, never on a clock of its own: the two stay in one batch.
    const dueNow = (s: LoadSpec): boolean => {
      const base = s.contractKey === undefined ? s : bySpecKey.get(s.contractKey);
      const entry = base && cache.get(base.key);
      return base !== undefined && entry !== undefined && isDue(base, entry, t);
    };
    const due = specs.filter((s) => cache.has(s.key) && dueNow(s));
    const fetchedNow = new Set<string>();
    const causes = new Map<string, unknown>();
    let refreshing: Promise<RefreshOutcome> | undefined;
    // A prompt not cached at all has nothing to serve meanwhile, so this fetch is awaited, and so
    // are the variants of experiments it reveals (a cold load: their arms would be lost otherwise).
    // A variant missing on a warm load is fetched alongside, like a refresh: control serves meanwhile.
    if (missing.some((s) => s.contractKey === undefined)) {
      const started = now();
      const outcome = await refresh([...missing, ...due]);
      for (const key of outcome.refreshed) fetchedNow.add(key);
      for (const { key, cause } of outcome.failed) causes.set(key, cause);
      const discovered = variantSpecs(now()).filter((s) => !cache.has(s.key) && !variantFailedAt.has(s.key));
      // Within what is left of the cold load's budget, not a budget of its own.
      const left = options.budgetMs - (now() - started);
      if (discovered.length > 0 && left > 0) {
        const more = await refresh(discovered, left);
        for (const key of more.refreshed) fetchedNow.add(key);
      }
    } else if (missing.length > 0 || due.length > 0) {
      refreshing = refresh([...missing, ...due]);
    }
    const prompts = new Map<string, LoadedPrompt>();
    const problems: LoadProblem[] = [];
    const unavailable: { key: string; cause: unknown }[] = [];
    for (const spec of options.specs) {
      const entry = cache.get(spec.key);
      if (entry === undefined) {
        unavailable.push({ key: spec.key, cause: causes.get(spec.key) ?? fallbackRefusals.get(spec.key) });
        continue;
      }
      const source = fetchedNow.has(spec.key) ? 'registry' : sourceOf(entry);
      prompts.set(spec.key, { ...entry.content, source });
      if (source === 'stale' || source === 'fallback') {
        problems.push({ key: spec.key, source, cause: entry.failure });
      }
    }
    const experiments = new Map<string, ExperimentDefinition>();
    const variants = new Map<string, LoadedPrompt>();
    for (const spec of options.specs) {
      const experiment = experimentOf(spec);
      if (!experiment) continue;
      experiments.set(spec.key, experiment);
      for (const v of experiment.variants) {
        const key = variantKey(spec.key, v.alias);
        const entry = cache.get(key);
        if (entry)
          variants.set(key, { ...entry.content, source: fetchedNow.has(key) ? 'registry' : 'cache' });
      }
    }
    if (unavailable.length > 0) {
      const keys = unavailable.map((u) => u.key).join(', ');
      throw new PromptsUnavailableError(
        `No version of ${keys} could be loaded: the registry failed and there is no fallback for it.`,
        { cause: unavailable[0]?.cause },
      );
    }
    return { prompts, experiments, variants, problems, refresh: refreshing };
  }

  return {
    load,
    notePromptTag(key, tag, value) {
      const name = cache.get(key)?.content.name;
      if (name === undefined) return;
      // A prompt's tags are the prompt's: its variants' entries (the same prompt) hold them too.
      for (const entry of cache.values()) {
        if (entry.fromFallback || entry.content.name !== name) continue;
        entry.content = { ...entry.content, promptTags: { ...entry.content.promptTags, [tag]: value } };
      }
    },
    get fetchCount() {
      return fetchCount;
    },
    clear() {
      cache.clear();
      pending.clear();
      variantFailedAt.clear();
    },
  };
}

/** A short reason for a log line: the error's code and message, or what was given. */
export function describeCause(cause: unknown): string {
  if (cause instanceof PromptOpsError) return `${cause.code}: ${cause.message}`;
  if (cause instanceof Error) return cause.message;
  return cause === undefined ? 'unknown' : String(cause);
}
