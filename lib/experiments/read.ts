/**
 * An experiment's traces, read from MLflow a page at a time (500, the server's largest) up to a
 * bound, and turned into the report's observations. The filter names the experiment's tag on the
 * prompt's key: one revision (`id#3`, the default: one split) or all of them (`id#%`).
 */
import { InvalidInputError } from '../errors';
import { MAX_TRACE_PAGE, type Tracking } from '../registry/tracking';
import type { ExperimentDefinition } from './definition';
import {
  buildReport,
  type ExperimentReport,
  type LatencySource,
  type Observation,
  observe,
  type ReportOptions,
} from './report';
import { ARM_TAGS } from './serve';

export interface ReadOptions {
  /** The MLflow experiment the agent's traces go to. */
  readonly experimentId: string;
  /** The prompt's key on the traces (the agent's name for it: `orchestrator`). */
  readonly key: string;
  readonly definition: ExperimentDefinition;
  /** One revision, or every revision of the experiment (default: the definition's own). */
  readonly revision?: number | 'all' | undefined;
  /** Only traces from then on (epoch milliseconds). */
  readonly sinceMs?: number | undefined;
  /**
   * At most this many traces are read of each arm (default 20,000), so that a small variant is
   * not crowded out by control; the answer says when an arm had more.
   */
  readonly maxTraces?: number | undefined;
  readonly latency: LatencySource;
}

export const DEFAULT_MAX_TRACES = 20_000;
const KEY = /^[A-Za-z0-9_-]{1,64}$/;

/** The trace filter for the experiment; its parts are checked, never quoted blindly. */
export function experimentFilter(
  key: string,
  id: string,
  revision: number | 'all',
  sinceMs?: number,
  arm?: string,
): string {
  if (!KEY.test(key)) throw new InvalidInputError(`'${key}' is not a prompt key.`);
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(id)) throw new InvalidInputError(`'${id}' is not an experiment id.`);
  if (arm !== undefined && !KEY.test(arm)) throw new InvalidInputError(`'${arm}' is not an alias.`);
  const tag = `tags.\`${ARM_TAGS.experiment(key)}\``;
  const parts = [revision === 'all' ? `${tag} LIKE '${id}#%'` : `${tag} = '${id}#${revision}'`];
  if (arm !== undefined) parts.push(`tags.\`${ARM_TAGS.arm(key)}\` = '${arm}'`);
  if (sinceMs !== undefined) parts.push(`trace.timestamp_ms >= ${Math.floor(sinceMs)}`);
  return parts.join(' AND ');
}

export interface ReadResult {
  readonly observations: Observation[];
  /** Traces read (some may not be in the experiment's arms, e.g. an arm no longer listed). */
  readonly traces: number;
  /** True when the bound stopped the reading before the last page. */
  readonly truncated: boolean;
}

export async function readObservations(
  tracking: Pick<Tracking, 'searchTraces'>,
  options: ReadOptions,
): Promise<ReadResult> {
  const maxTraces = options.maxTraces ?? DEFAULT_MAX_TRACES;
  const definition = options.definition;
  const observations: Observation[] = [];
  let traces = 0;
  let truncated = false;
  // Arm by arm: each gets its own bound.
  for (const arm of [definition.control, ...definition.variants.map((v) => v.alias)]) {
    const filter = experimentFilter(
      options.key,
      definition.id,
      options.revision ?? definition.revision,
      options.sinceMs,
      arm,
    );
    let read = 0;
    let pageToken: string | undefined;
    do {
      const page = await tracking.searchTraces({
        experimentId: options.experimentId,
        filter,
        maxResults: Math.min(MAX_TRACE_PAGE, maxTraces - read),
        pageToken,
      });
      for (const trace of page.traces) {
        read += 1;
        const seen = observe(trace, options.key, options.latency, definition.key);
        if (seen) observations.push(seen);
      }
      pageToken = page.nextPageToken;
      // A page that brought nothing new ends the reading, whatever its token says.
      if (page.traces.length === 0) pageToken = undefined;
    } while (pageToken !== undefined && read < maxTraces);
    traces += read;
    if (pageToken !== undefined) truncated = true;
  }
  return { observations, traces, truncated };
}

/** The report on the experiment's traces: read, then judged. */
export async function reportOf(
  tracking: Pick<Tracking, 'searchTraces'>,
  read: ReadOptions,
  options: ReportOptions,
): Promise<{ report: ExperimentReport; read: ReadResult }> {
  const result = await readObservations(tracking, read);
  const revision = read.revision ?? read.definition.revision;
  // The counts fit the split only when they are whole, and of the split the definition holds now.
  const skipped = result.truncated
    ? 'an arm was read only in part'
    : revision !== read.definition.revision
      ? `revision ${revision} may have had another split than revision ${read.definition.revision}'s`
      : undefined;
  return { report: buildReport(read.definition, result.observations, options, skipped), read: result };
}
