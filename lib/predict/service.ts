/**
 * One prediction, end to end, shared by the Lambda (functions/predict) and the CLI
 * (`promptops predict`): inside a trace (`agent_predict`, AGENT), load the agent's prompts (cache,
 * stale or bundled fallback when the registry fails), run the agent, then, before answering, the
 * one awaited point: the prompt refresh that ran alongside, the trace's export with its prompt
 * links, and the experiment link on the prompts. That last phase never fails the answer; it is
 * bounded by the trace budget and counted.
 */

import type { AgentInput, ChatAgentAnswer, PromptUse } from '../agent/chat-agent';
import { type AgentContract, BUILT_IN_CONTRACT, checkUsable } from '../agent/contract';
import { type DataProvider, runAgent } from '../agent/flow';
import { assertFlowCanRun } from '../agent/flow-supplies';
import {
  AlreadyExistsError,
  ConflictError,
  DeadlineExceededError,
  ForbiddenError,
  InternalError,
  InvalidInputError,
  NotFoundError,
  type PromptOpsError,
  UnauthorizedError,
} from '../errors';
import { MODEL_MS_TAG } from '../experiments/report';
import { ARM_TAGS, serveExperiments } from '../experiments/serve';
import type { ChatModel } from '../model/chat-model';
import type { Logger } from '../observability/logger';
import { type MetricName, PREDICT_METRICS } from '../observability/metric-names';
import type { Metrics } from '../observability/metrics';
import {
  createPromptLoader,
  describeCause,
  type LoadedPrompt,
  type PromptLoad,
  type PromptLoader,
  type PromptSource,
} from '../prompt-loader/loader';
import { type PromptSnapshot, withoutVersions } from '../prompt-loader/snapshot';
import type { NamingOptions } from '../prompts/naming';
import type { RegistryClient, VersionRef } from '../registry';
import {
  addExperiment,
  EXPERIMENT_IDS_TAG,
  hasExperiment,
  memoExperimentId,
  resolveExperimentId,
} from '../registry/experiments';
import { currentDeadline, type Deadline, deadlineIn, settleWithin, withDeadline } from '../runtime/deadline';
import type { RegistryProvider } from '../runtime/registry-provider';
import { ATTR, linkedPromptsValue } from '../tracing/attributes';
import { type ExportOutcome, exportTrace } from '../tracing/export';
import type { Tracer } from '../tracing/recorder';
import { loadSpecs } from './load-specs';
import type { PredictSettings } from './settings';

/** The metric each prompt source counts under. */
const SOURCE_METRIC: Readonly<Record<PromptSource, MetricName>> = {
  registry: PREDICT_METRICS.registry,
  cache: PREDICT_METRICS.cache,
  stale: PREDICT_METRICS.stale,
  fallback: PREDICT_METRICS.fallback,
};

const SOURCE_RANK: Readonly<Record<PromptSource, number>> = { registry: 0, cache: 1, stale: 2, fallback: 3 };

export interface PredictServiceDeps {
  readonly settings: PredictSettings;
  readonly naming: NamingOptions;
  readonly registry: RegistryProvider;
  /** The prompts loaded and the variables they may use; default the one the code was built with. */
  readonly contract?: AgentContract | undefined;
  /** The model to answer with (from the secret in Lambda, from the environment in the CLI). */
  readonly model: () => Promise<ChatModel>;
  /** The prompts served when the registry cannot answer in time (bundled at build time in Lambda). */
  readonly snapshot: () => PromptSnapshot | undefined;
  readonly tracer: Tracer;
  readonly dataProvider?: DataProvider | undefined;
}

export interface PredictContext {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** When the invocation must have answered. */
  readonly deadline: Deadline;
  /** Told the trace id as soon as the trace starts (so a failure can name its trace). */
  readonly onTrace?: ((traceId: string) => void) | undefined;
}

/** The final phase of one invocation: see openFinalPhase. */
interface FinalPhase {
  /** False once the invocation has answered. */
  open(): boolean;
  reportTrace(outcome: ExportOutcome): void;
  /** The experiment listing alongside the export; its failure is counted, never thrown. */
  listing(work: Promise<void>): Promise<void>;
  /** The phase's budget ran out before its work ended. */
  ranOut(error: unknown): void;
  close(): void;
}

export interface PredictService {
  predict(input: AgentInput, context: PredictContext): Promise<ChatAgentAnswer>;
  readonly loader: PromptLoader;
  /** The experiment the traces go to (resolved once, by name if configured so). */
  experimentId(): Promise<string>;
}

/**
 * The final phase's share of the time left: its budget, or a third of what is left when that is
 * less, so a late start still leaves the work most of the time.
 */
export function finalPhaseShareMs(remainingMs: number, budgetMs: number): number {
  return Math.max(0, Math.min(budgetMs, Math.floor(remainingMs / 3)));
}

/**
 * An error of the work phase that would read as the caller's fault (a template the agent cannot
 * format, a registry refusal) is the service's: the request itself was checked before.
 */
export function asServerFailure(error: unknown): unknown {
  const callersFault =
    error instanceof InvalidInputError ||
    error instanceof NotFoundError ||
    error instanceof ConflictError ||
    error instanceof AlreadyExistsError ||
    ((error instanceof UnauthorizedError || error instanceof ForbiddenError) && error.registry === undefined);
  return callersFault
    ? new InternalError(
        `The prediction failed: ${(error as PromptOpsError).code}: ${(error as Error).message}`,
        {
          cause: error,
        },
      )
    : error;
}

const knownVersions = (prompts: Iterable<LoadedPrompt>): VersionRef[] =>
  [...prompts].flatMap((p) => (p.version === null ? [] : [{ name: p.name, version: p.version }]));

export function createPredictService(deps: PredictServiceDeps): PredictService {
  const { settings } = deps;
  const contract = deps.contract ?? BUILT_IN_CONTRACT;
  assertFlowCanRun(contract);
  const specs = loadSpecs(settings, deps.naming, contract);
  // The bundled snapshot's versions are claimed (and linked to traces) only when it was read from
  // the registry this stage uses: packaging may have read another one (a developer's, CI's).
  let snapshotNote: string | undefined;
  let checkedSnapshot: Promise<PromptSnapshot | undefined> | undefined;
  const snapshot = () => {
    checkedSnapshot ??= (async () => {
      const taken = deps.snapshot();
      if (!taken || taken.registry === null) return taken;
      const inUse = await deps.registry.withRegistry(async (r) => r.trackingUri).catch(() => undefined);
      if (inUse === taken.registry) return taken;
      snapshotNote = `the bundled snapshot was read from ${taken.registry}, not the registry in use: its templates serve, unversioned`;
      return withoutVersions(taken);
    })();
    return checkedSnapshot;
  };
  const loader = createPromptLoader({
    specs,
    resolve: (targets) =>
      deps.registry.withRegistry((r) => r.resolvePrompts(targets, { allowMissing: true })),
    snapshot,
    ttlMs: settings.ttlMs,
    budgetMs: settings.loadBudgetMs,
    validate: (key, template) => {
      checkUsable(key, template, contract);
    },
  });

  const experimentId = memoExperimentId(() =>
    deps.registry.withRegistry((r) => resolveExperimentId(r, settings.experiment)),
  );

  /** MLflow lists a prompt on an experiment's page when its tag names the experiment; as its SDK does on load. */
  async function linkPromptsToExperiment(registry: RegistryClient, id: string, prompts: LoadedPrompt[]) {
    const missing = prompts.filter(
      (p) => p.source !== 'fallback' && !hasExperiment(p.promptTags[EXPERIMENT_IDS_TAG], id),
    );
    await Promise.all(
      missing.map(async (p) => {
        const value = addExperiment(p.promptTags[EXPERIMENT_IDS_TAG], id);
        await registry.setPromptTag(p.name, EXPERIMENT_IDS_TAG, value);
        loader.notePromptTag(p.key, EXPERIMENT_IDS_TAG, value);
      }),
    );
  }

  /**
   * The trace's spans over OTLP, then its prompt links; alongside, the experiment tag on prompts
   * that lack it. Runs under the final phase's deadline; a failure is reported, never thrown. The
   * trace's outcome is reported as soon as it is known, whatever the listing alongside still does.
   */
  async function finishTrace(
    traceId: string,
    spans: Parameters<typeof exportTrace>[1]['spans'],
    prompts: LoadedPrompt[],
    experimentReady: Promise<string>,
    phase: FinalPhase,
  ): Promise<void> {
    let id: string;
    try {
      id = await experimentReady;
    } catch (error) {
      phase.reportTrace({ exported: false, linked: false, error });
      return;
    }
    // The lookup (started with the work, bounded by no deadline of its own) may end after the
    // phase did: the invocation has answered, and nothing more is sent on its behalf.
    if (!phase.open()) return;
    const budgetMs = currentDeadline()?.remainingMs() ?? settings.traceBudgetMs;
    await Promise.all([
      deps.registry
        .withRegistry((r) =>
          exportTrace(r, { traceId, experimentId: id, spans, prompts: knownVersions(prompts) }, budgetMs),
        )
        .then(
          (outcome) => phase.reportTrace(outcome),
          (error: unknown) => phase.reportTrace({ exported: false, linked: false, error }),
        ),
      phase.listing(deps.registry.withRegistry((r) => linkPromptsToExperiment(r, id, prompts))),
    ]);
  }

  /**
   * What the final phase reports, while it runs: the trace's outcome once (exported or failed,
   * never both), and nothing after the invocation has answered. Work the phase gave up on (a call
   * that outlived its budget) may still end later; a line it wrote then would land in the next
   * invocation's log, under that request's id, and its metrics are closed.
   */
  function openFinalPhase(traceId: string, context: PredictContext): FinalPhase {
    let open = true;
    let traceReported = false;
    let listingPending = false;
    const listingFailed = (error: unknown) => {
      context.metrics.add(PREDICT_METRICS.experimentLinkFailed, 1);
      context.log.warn('prompts not listed on the experiment', { traceId, cause: describeCause(error) });
    };
    const phase: FinalPhase = {
      open: () => open,
      reportTrace(outcome) {
        if (!open || traceReported) return;
        traceReported = true;
        reportTrace(traceId, outcome, context);
      },
      async listing(work) {
        listingPending = true;
        try {
          await work;
        } catch (error) {
          if (open) listingFailed(error);
        } finally {
          listingPending = false;
        }
      },
      ranOut(error) {
        if (!open) return;
        // What had not ended is reported as failed, by what it was: the export, the listing, or
        // else the refresh (its failure is not known yet; the next invocation retries it).
        const exportEnded = traceReported;
        if (!exportEnded) phase.reportTrace({ exported: false, linked: false, error });
        if (listingPending) listingFailed(error);
        else if (exportEnded) {
          context.log.warn('final phase not finished in time', { traceId, cause: describeCause(error) });
        }
        open = false;
      },
      close() {
        open = false;
      },
    };
    return phase;
  }

  function reportTrace(traceId: string, outcome: ExportOutcome, context: PredictContext) {
    if (outcome.exported) context.metrics.add(PREDICT_METRICS.traceExported, 1);
    else context.metrics.add(PREDICT_METRICS.traceFailed, 1);
    if (outcome.exported && !outcome.linked) context.metrics.add(PREDICT_METRICS.linkFailed, 1);
    if (outcome.error !== undefined) {
      context.log.warn(outcome.exported ? 'trace stored, prompt links failed' : 'trace not exported', {
        traceId,
        cause: describeCause(outcome.error),
      });
    }
  }

  function reportLoad(load: PromptLoad, context: PredictContext) {
    for (const prompt of load.prompts.values()) context.metrics.add(SOURCE_METRIC[prompt.source], 1);
    for (const problem of load.problems) {
      const prompt = load.prompts.get(problem.key);
      // One line per prompt served from the fallback, with its cause; stale ones likewise.
      context.log.warn(
        problem.source === 'fallback' ? 'prompt served from the bundled fallback' : 'prompt served stale',
        {
          prompt: prompt?.name,
          version: prompt?.version,
          cause: describeCause(problem.cause),
          ...(problem.source === 'fallback' && snapshotNote ? { note: snapshotNote } : {}),
        },
      );
    }
  }

  async function awaitRefresh(load: PromptLoad | undefined, phase: FinalPhase, context: PredictContext) {
    const outcome = await load?.refresh;
    if (!outcome || outcome.failed.length === 0 || !phase.open()) return;
    context.metrics.add(PREDICT_METRICS.refreshFailed, outcome.failed.length);
    context.log.warn('prompt refresh failed; the cached versions stay', {
      prompts: outcome.failed.map((f) => f.key),
      cause: describeCause(outcome.failed[0]?.cause),
    });
  }

  async function predict(input: AgentInput, context: PredictContext): Promise<ChatAgentAnswer> {
    const recorder = deps.tracer.startTrace({
      name: 'agent_predict',
      spanType: 'AGENT',
      inputs: {
        messages: [...input.history, { role: 'user', content: input.query }],
        ...(Object.keys(input.data).length > 0 || input.domains
          ? {
              custom_inputs: {
                ...(Object.keys(input.data).length > 0 ? { data: input.data } : {}),
                ...(input.domains ? { domains: input.domains } : {}),
              },
            }
          : {}),
      },
      // The seed's trace tags.
      tags: {
        prompts_loaded: specs.map((s) => s.key).join(','),
        prompt_catalog: deps.naming.catalog ?? '',
        prompt_schema: deps.naming.schema ?? '',
      },
      attributes: {
        ...(input.conversationId ? { [ATTR.session]: input.conversationId } : {}),
        ...(input.userId ? { [ATTR.user]: input.userId } : {}),
      },
    });
    context.onTrace?.(recorder.traceId);
    // Resolved alongside the work (a lookup by name at a cold start), so the final phase need not wait for it.
    const experimentReady = experimentId();
    experimentReady.catch(() => undefined);
    // The work leaves the final phase its share of the invocation's time.
    const share = finalPhaseShareMs(context.deadline.remainingMs(), settings.traceBudgetMs);
    const work = deadlineIn(context.deadline.remainingMs() - share, { parent: context.deadline });
    let load: PromptLoad | undefined;
    let answer: ChatAgentAnswer | undefined;
    let failure: unknown;
    try {
      answer = await withDeadline(work, async () => {
        load = await recorder.inSpan('load_prompts', 'UNKNOWN', async (span) => {
          const cached = await loader.load();
          // Experiments: each prompt's arm for this request, variants in place of control.
          const { prompts: served, arms } = serveExperiments(cached, {
            userId: input.userId,
            sessionId: input.conversationId,
          });
          const loaded: PromptLoad = { ...cached, prompts: served };
          for (const arm of arms) {
            recorder.setTag(ARM_TAGS.experiment(arm.key), `${arm.experiment}#${arm.revision}`);
            recorder.setTag(ARM_TAGS.arm(arm.key), arm.assigned);
            if (arm.by === 'key') recorder.setTag(ARM_TAGS.bucket(arm.key), String(arm.bucket));
            if (arm.fallback) {
              recorder.setTag(ARM_TAGS.fallback(arm.key), arm.served);
              context.metrics.add(PREDICT_METRICS.variantFallback, 1);
              context.log.warn('experiment variant not loaded; control served', {
                prompt: arm.key,
                experiment: arm.experiment,
                variant: arm.assigned,
              });
            }
          }
          // On the span that loaded them, and as the trace's tag, as MLflow's SDK records them.
          const linked = linkedPromptsValue(knownVersions(loaded.prompts.values()));
          span.setAttribute(ATTR.linkedPrompts, linked);
          recorder.setTag('mlflow.linkedPrompts', linked);
          span.setOutputs(
            [...loaded.prompts.values()].map(({ key, name, version, alias, source }) => ({
              key,
              name,
              version,
              alias,
              source,
            })),
          );
          return loaded;
        });
        reportLoad(load, context);
        const prompts = [...load.prompts.values()];
        const worst = prompts.reduce<PromptSource>(
          (w, p) => (SOURCE_RANK[p.source] > SOURCE_RANK[w] ? p.source : w),
          'registry',
        );
        recorder.setTag('promptops.prompt_source', worst);
        // The model comes with the secret: a slow Secrets Manager must not outlive the work's time.
        const model = await settleWithin(
          work.remainingMs(),
          deps.model(),
          () => new DeadlineExceededError('The model configuration (the secret) did not arrive in time.'),
        );
        const result = await runAgent(load.prompts, input, {
          model,
          trace: recorder,
          maxTokens: settings.maxTokens,
          dataProvider: deps.dataProvider,
          onDataUnavailable: (domain, error) => {
            context.metrics.add(PREDICT_METRICS.dataUnavailable, 1);
            context.log.warn('domain data unavailable; its worker answered without', {
              domain,
              cause: describeCause(error),
            });
          },
        });
        if (result.classification?.fallback) context.metrics.add(PREDICT_METRICS.classifierFallback, 1);
        if (result.usage) context.metrics.add(PREDICT_METRICS.modelTokens, result.usage.totalTokens);
        // What the model endpoint reported spending: an experiment's latency free of the network.
        if (result.modelMs !== undefined) recorder.setTag(MODEL_MS_TAG, String(Math.round(result.modelMs)));
        return {
          answer: result.answer,
          traceId: recorder.traceId,
          domains: result.domains,
          prompts: prompts.map(
            (p): PromptUse => ({ name: p.name, version: p.version, alias: p.alias, source: p.source }),
          ),
          finishReason: result.finishReason,
          usage: result.usage,
        };
      });
    } catch (error) {
      failure = asServerFailure(error);
    }
    const spans = recorder.finish(
      answer ? { messages: [{ role: 'assistant', content: answer.answer }] } : null,
      failure,
    );
    // The one awaited point, bounded by one budget: nothing of this invocation runs after it answers.
    const finalPhase = deadlineIn(share, { parent: context.deadline });
    const phase = openFinalPhase(recorder.traceId, context);
    await settleWithin(
      finalPhase.remainingMs(),
      withDeadline(finalPhase, () =>
        Promise.all([
          awaitRefresh(load, phase, context),
          finishTrace(
            recorder.traceId,
            spans,
            load ? [...load.prompts.values()] : [],
            experimentReady,
            phase,
          ),
        ]),
      ),
      () => new DeadlineExceededError(`The trace was not finished within ${share} ms.`),
    ).catch((error: unknown) => phase.ranOut(error));
    phase.close();
    if (failure !== undefined || answer === undefined) throw failure;
    return answer;
  }

  return { predict, loader, experimentId };
}
