/** Lambda entry point: everything built once per cold start, then reused by warm invocations. */

import { parsePredictEnv } from '../../lib/config/predict-env';

import { createPredictService } from '../../lib/predict/service';
import { predictSettings } from '../../lib/predict/settings';
import { dataProviderFor, secretStatementRunner } from '../../lib/runtime/data-provider';
import { createRuntime } from '../../lib/runtime/invocation';
import { createModelProvider } from '../../lib/runtime/model-provider';
import { createTracer } from '../../lib/tracing/recorder';
import { bundledSnapshot } from './bundled-snapshot';
import { createPredictHandler } from './core';

// Exported for the packaging test: the fallback this bundle carries.
export { bundledSnapshot };

const env = parsePredictEnv(process.env);
const settings = predictSettings(env);
const runtime = createRuntime(env, { functionName: 'predict' });

export const handler = createPredictHandler({
  runtime,
  service: createPredictService({
    settings,
    naming: runtime.naming,
    registry: runtime.registry,
    model: createModelProvider({ secrets: runtime.secrets, secretId: env.PROMPTOPS_SECRET_ID }),
    snapshot: () => bundledSnapshot,
    tracer: createTracer({ content: settings.content }),
    dataProvider: dataProviderFor(
      settings.data,
      secretStatementRunner({ secrets: runtime.secrets, secretId: env.PROMPTOPS_SECRET_ID }),
    ),
  }),
});
