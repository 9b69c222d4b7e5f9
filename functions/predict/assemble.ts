/**
 * The predict function's parts, put together from its configuration: the service over the
 * runtime's registry, the model and data from the secret, the tracer. The Lambda entry point
 * (handler.ts) and the end-to-end tests build it the same way.
 */
import type { PredictFunctionEnv } from '../../lib/config/predict-env';
import { createPredictService } from '../../lib/predict/service';
import { predictSettings } from '../../lib/predict/settings';
import type { PromptSnapshot } from '../../lib/prompt-loader/snapshot';
import { dataProviderFor, secretStatementRunner } from '../../lib/runtime/data-provider';
import type { Runtime } from '../../lib/runtime/invocation';
import { createModelProvider } from '../../lib/runtime/model-provider';
import { createTracer, type Tracer } from '../../lib/tracing/recorder';
import { createPredictHandler } from './core';

export interface PredictAssembly {
  /** The fallback served when the registry cannot be read (the bundled snapshot in Lambda). */
  readonly snapshot: () => PromptSnapshot | undefined;
  /** Another tracer than one from the settings (tests record spans). */
  readonly tracer?: Tracer;
}

export function assemblePredict(env: PredictFunctionEnv, runtime: Runtime, parts: PredictAssembly) {
  const settings = predictSettings(env);
  const secretId = env.PROMPTOPS_SECRET_ID;
  return createPredictHandler({
    runtime,
    service: createPredictService({
      settings,
      naming: runtime.naming,
      registry: runtime.registry,
      model: createModelProvider({ secrets: runtime.secrets, secretId }),
      snapshot: parts.snapshot,
      tracer: parts.tracer ?? createTracer({ content: settings.content }),
      dataProvider: dataProviderFor(
        settings.data,
        secretStatementRunner({ secrets: runtime.secrets, secretId }),
      ),
    }),
  });
}
