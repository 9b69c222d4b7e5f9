/** Lambda entry point: everything built once per cold start, then reused by warm invocations. */

import { parsePredictEnv } from '../../lib/config/predict-env';
import { createRuntime } from '../../lib/runtime/invocation';
import { assemblePredict } from './assemble';
import { bundledSnapshot } from './bundled-snapshot';

// Exported for the packaging test: the fallback this bundle carries.
export { bundledSnapshot };

const env = parsePredictEnv(process.env);
const runtime = createRuntime(env, { functionName: 'predict' });

export const handler = assemblePredict(env, runtime, { snapshot: () => bundledSnapshot });
