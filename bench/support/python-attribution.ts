import type { z } from 'zod';

/**
 * The start of every Python benchmark script: it times `import mlflow.genai`, then registers a
 * request header provider (MLflow's own extension point, called for every REST request) that tags
 * each request with the script's phase and the sending thread, so the counting proxy can tell the
 * measured loop from MLflow's background threads. Scripts set `phase = "loop"` around what they time.
 */
export const PYTHON_ATTRIBUTION_PRELUDE = `
import json, sys, threading, time

t0 = time.perf_counter()
import mlflow.genai
import_ms = (time.perf_counter() - t0) * 1000

from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider
from mlflow.tracking.request_header.registry import _request_header_provider_registry

phase = "setup"

class BenchAttribution(RequestHeaderProvider):
    def in_context(self):
        return True

    def request_headers(self):
        return {"X-Bench-Phase": phase, "X-Bench-Thread": threading.current_thread().name}

_request_header_provider_registry.register(BenchAttribution)
`;

/** The script's result: its last line that is a JSON object, checked with `schema`. */
export function parseScriptResult<T>(schema: z.ZodType<T>, stdout: string, stderr: string): T {
  const line = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  const parsed = schema.safeParse(line === undefined ? undefined : JSON.parse(line));
  if (!parsed.success) throw new Error(`unexpected output from the Python SDK run:\n${stdout}\n${stderr}`);
  return parsed.data;
}
