/** Predict's settings as the service tests use them: production, a minute's cache, the request's data. */
import { type PredictSettings, REQUEST_DATA } from '../../lib/predict/settings';
import { DEFAULT_CONTENT_POLICY } from '../../lib/tracing/attributes';

export function testPredictSettings(overrides: Partial<PredictSettings> = {}): PredictSettings {
  return {
    alias: 'production',
    pins: new Map(),
    ttlMs: 60_000,
    loadBudgetMs: 1_500,
    traceBudgetMs: 4_000,
    maxTokens: 256,
    content: DEFAULT_CONTENT_POLICY,
    experiment: { id: '0' },
    data: REQUEST_DATA,
    ...overrides,
  };
}
