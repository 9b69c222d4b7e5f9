/**
 * `promptops experiment start|show|stop|report <prompt>`: a prompt's experiment. start, show and
 * stop go through the promote API (signed, authorised and audited as alias moves are); report
 * reads the experiment's traces from MLflow directly, as `mlflow.search_traces` would.
 */
import { startBodySchema, stopBodySchema } from '../experiments/api';
import { EXPERIMENT_TAG, parseExperimentTag } from '../experiments/definition';
import { parseGuards } from '../experiments/guards';
import { DEFAULT_MAX_TRACES, reportOf } from '../experiments/read';
import { DEFAULT_REPORT_OPTIONS, type LatencySource } from '../experiments/report';
import { registryName } from '../prompts/naming';
import { own } from '../util/own';
import { describeDefinition, describeHistory, describeReport } from './experiment-text';
import { asUsage, type CliIo, commandLine, namingFrom, REGISTRY_FLAGS, UsageError } from './io';
import { COMMON, checked, numberOr, promptName, withClient } from './promote';
import { experimentFromEnv, registryFromEnv } from './registry-from-env';

type Handler = (args: readonly string[], io: CliIo) => Promise<number>;

/** Body fields as the flags that set them. */
const FLAG_OF: Readonly<Record<string, string>> = {
  id: '--id',
  control: '--control',
  variants: '--variant',
  key: '--key',
  ends_at: '--ends',
  guardrails: '--guard',
  rollout: '--rollout',
  expectedRevision: '--expected-revision',
  reason: '--reason',
};
const flagOf = (path: string) => {
  const field = path.split('.')[0] ?? '';
  return own(FLAG_OF, field) ?? (path || 'request');
};

/** `candidate=10%` (a share of traffic), or `candidate` alone with --rollout. */
export function parseVariant(text: string): { alias: string; weight_bp?: number } {
  const eq = text.indexOf('=');
  if (eq < 0) return { alias: text };
  const alias = text.slice(0, eq);
  const share = text.slice(eq + 1).trim();
  const match = /^([0-9]{1,3}(?:\.[0-9]{1,2})?)%$/.exec(share);
  if (!match) throw new UsageError(`--variant expects alias=<share>% (e.g. candidate=10%), got '${text}'.`);
  return { alias, weight_bp: Math.round(Number(match[1]) * 100) };
}

/** `5,25,50,100`: the rollout's steps in percent. */
function parseSteps(text: string): number[] {
  if (!/^[0-9]{1,3}(,[0-9]{1,3}){0,9}$/.test(text.replace(/\s+/g, '')))
    throw new UsageError(
      `--rollout expects percentages separated by commas (e.g. 5,25,50,100), got '${text}'.`,
    );
  return text.replace(/\s+/g, '').split(',').map(Number);
}

const revisionFlag = (value: string | undefined) => (value === 'none' ? null : numberOr(value));

const start: Handler = async (args, io) => {
  const { values, positionals } = commandLine(args, {
    ...COMMON,
    id: { type: 'string' },
    control: { type: 'string' },
    variant: { type: 'string', multiple: true },
    key: { type: 'string' },
    ends: { type: 'string' },
    guard: { type: 'string' },
    rollout: { type: 'string' },
    'expected-revision': { type: 'string' },
    reason: { type: 'string' },
  });
  const name = promptName(positionals, 'experiment start');
  if (!values.id) throw new UsageError('experiment start needs --id (lowercase letters, digits and dashes).');
  if (!values.variant?.length) throw new UsageError('experiment start needs --variant alias=<share>%.');
  // Parsed here as the API parses it, so a malformed guard is a usage error before any request.
  if (values.guard !== undefined) {
    const guard = values.guard;
    asUsage(() => parseGuards(guard));
  }
  const body = checked(
    startBodySchema,
    {
      id: values.id,
      control: values.control,
      variants: values.variant.map(parseVariant),
      key: values.key,
      ends_at: values.ends,
      guardrails: values.guard,
      rollout: values.rollout === undefined ? undefined : { steps: parseSteps(values.rollout) },
      expectedRevision: revisionFlag(values['expected-revision']),
      reason: values.reason,
    },
    flagOf,
  );
  return withClient(
    values,
    io,
    (client) => client.startExperiment(name, body),
    (change) =>
      `${change.prompt}: ${change.changed ? `experiment ${change.action} (revision ${change.previousRevision ?? 'none'} → ${change.experiment.revision})` : 'experiment already as asked; nothing changed'}\n${describeDefinition(change.experiment)}\n`,
  );
};

const stop: Handler = async (args, io) => {
  const { values, positionals } = commandLine(args, {
    ...COMMON,
    'expected-revision': { type: 'string' },
    reason: { type: 'string' },
  });
  const name = promptName(positionals, 'experiment stop');
  const body = checked(
    stopBodySchema,
    { expectedRevision: revisionFlag(values['expected-revision']), reason: values.reason },
    flagOf,
  );
  return withClient(
    values,
    io,
    (client) => client.stopExperiment(name, body),
    (change) =>
      `${change.prompt}: ${change.changed ? `experiment ${change.experiment.id} stopped (revision ${change.experiment.revision})` : `experiment ${change.experiment.id} was not running; nothing changed`}\n`,
  );
};

const show: Handler = async (args, io) => {
  const { values, positionals } = commandLine(args, COMMON);
  const name = promptName(positionals, 'experiment show');
  return withClient(
    values,
    io,
    (client) => client.showExperiment(name),
    (details) =>
      `${[
        details.experiment
          ? describeDefinition(details.experiment)
          : `${details.prompt}: ${details.problem ?? 'no experiment'}`,
        `history, newest first:\n${describeHistory(details.history)}`,
      ].join('\n\n')}\n`,
  );
};

const DURATION = /^([0-9]{1,6})([mhd])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `24h`, `7d`, `30m`, or an ISO time: the start of the traces read. */
export function parseSince(text: string, now: number): number {
  const duration = DURATION.exec(text);
  if (duration) return now - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
  const at = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at))
    throw new UsageError(`--since expects a duration (30m, 24h, 7d) or an ISO time, got '${text}'.`);
  return at;
}

function positiveInt(flag: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^[0-9]{1,9}$/.test(text) || n < 1 || n > max)
    throw new UsageError(`${flag} expects a whole number from 1 to ${max}, got '${text}'.`);
  return n;
}

const report: Handler = async (args, io) => {
  const { values, positionals } = commandLine(args, {
    ...REGISTRY_FLAGS,
    json: { type: 'boolean' },
    since: { type: 'string' },
    revision: { type: 'string' },
    latency: { type: 'string' },
    'min-samples': { type: 'string' },
    alpha: { type: 'string' },
    'max-traces': { type: 'string' },
  });
  const prompt = promptName(positionals, 'experiment report');
  const naming = namingFrom(values, io.env);
  const latency = (values.latency ?? 'trace') as LatencySource;
  if (latency !== 'trace' && latency !== 'model')
    throw new UsageError(`--latency expects trace or model, got '${values.latency}'.`);
  const revision =
    values.revision === undefined || values.revision === 'all'
      ? values.revision
      : positiveInt('--revision', values.revision, 1, 1_000_000_000);
  const alpha = values.alpha === undefined ? DEFAULT_REPORT_OPTIONS.alpha : Number(values.alpha);
  if (!(alpha > 0 && alpha < 0.5))
    throw new UsageError(`--alpha expects a number between 0 and 0.5, got '${values.alpha}'.`);
  const options = {
    ...DEFAULT_REPORT_OPTIONS,
    alpha,
    minSamples: positiveInt(
      '--min-samples',
      values['min-samples'],
      DEFAULT_REPORT_OPTIONS.minSamples,
      1_000_000,
    ),
  };
  const maxTraces = positiveInt('--max-traces', values['max-traces'], DEFAULT_MAX_TRACES, 1_000_000);
  const sinceMs = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const experimentRef = experimentFromEnv(io.env);
  const registry = registryFromEnv(io.env, values['tracking-uri']);
  const name = registryName(prompt, naming);
  const tag = (await registry.getPrompt(name)).tags[EXPERIMENT_TAG];
  if (tag === undefined) {
    io.stderr(`promptops: NOT_FOUND: '${name}' has no experiment.\n`);
    return 1;
  }
  const definition = parseExperimentTag(name, tag);
  // Read only: an experiment named but missing is an error here, not created.
  const experimentId =
    'id' in experimentRef ? experimentRef.id : await registry.getExperimentIdByName(experimentRef.name);
  if (experimentId === undefined) {
    io.stderr(`promptops: NOT_FOUND: no MLflow experiment '${'name' in experimentRef ? experimentRef.name : ''}'.
`);
    return 1;
  }
  const result = await reportOf(
    registry,
    { experimentId, key: prompt, definition, revision, sinceMs, maxTraces, latency },
    options,
  );
  const scope = `${revision === 'all' ? 'every revision' : `revision ${revision ?? definition.revision}`} of MLflow experiment ${experimentId}${sinceMs === undefined ? '' : ` since ${new Date(sinceMs).toISOString()}`}`;
  io.stdout(
    values.json
      ? `${JSON.stringify({ definition, traces: result.read.traces, truncated: result.read.truncated, latency, ...result.report }, null, 2)}\n`
      : `${describeDefinition(definition)}\n\n${describeReport(result.report, { ...result.read, scope, latency })}`,
  );
  return 0;
};

const VERBS: Readonly<Record<string, Handler>> = { start, stop, show, report };

export async function experimentCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = args;
  const handler = verb === undefined ? undefined : VERBS[verb];
  if (!handler || !Object.hasOwn(VERBS, verb as string)) {
    throw new UsageError(
      `experiment expects one of ${Object.keys(VERBS).join(', ')}${verb ? `, got '${verb}'` : ''}.`,
    );
  }
  return handler(rest, io);
}
