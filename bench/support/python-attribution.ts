import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { z } from 'zod';
import { venvBin } from '../../test/support/servers';
import type { CountingProxy, SeenRequest } from './counting-proxy';

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

export interface SdkRunOptions<T> {
  /** The whole Python script (the prelude included). */
  readonly script: string;
  readonly cwd?: string;
  readonly args?: readonly string[];
  /** Written to the script's stdin (e.g. more than fits in an argument). */
  readonly stdin?: string;
  /** MLflow settings beyond the tracking URI, which is the proxy. */
  readonly env?: Readonly<Record<string, string>>;
  readonly proxy: CountingProxy;
  readonly schema: z.ZodType<T>;
  /** Told the child while it runs (so a signal handler can stop it), then `undefined`. */
  readonly track?: (child: ChildProcess | undefined) => void;
}

export interface SdkRun<T> {
  readonly data: T;
  /** Spawn to exit. */
  readonly processMs: number;
  /** What the proxy saw while the script ran. */
  readonly seen: SeenRequest[];
}

/** Runs a Python SDK script against MLflow through `proxy`; its JSON result and what it cost. */
export function runSdkScript<T>(options: SdkRunOptions<T>): Promise<SdkRun<T>> {
  options.proxy.take();
  const started = performance.now();
  const child = spawn(venvBin('python'), ['-c', options.script, ...(options.args ?? [])], {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      MLFLOW_TRACKING_URI: options.proxy.url,
      MLFLOW_DISABLE_TELEMETRY: 'true',
      PYTHONUNBUFFERED: '1',
      ...options.env,
    },
  });
  options.track?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      options.track?.(undefined);
      const processMs = performance.now() - started;
      const seen = options.proxy.take();
      if (code !== 0) {
        reject(new Error(`the Python SDK run exited with ${code ?? signal}:\n${stderr.trim()}`));
        return;
      }
      try {
        resolve({ data: parseScriptResult(options.schema, stdout, stderr), processMs, seen });
      } catch (error) {
        reject(error);
      }
    });
  });
}
