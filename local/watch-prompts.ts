/**
 * Watches the prompt folders of the local stack: a saved prompt file is handed on (to be uploaded
 * and registered, as a CI sync would) once its writes have settled and only when its content
 * changed: editors save in several writes, some touch a file without changing it. Changes are
 * handed on one at a time, in the order they settled. A change whose handling failed is handed on
 * again at its next save, even with the same content.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { isPromptFileName } from '../lib/prompts/directory';

export type PromptChange =
  | { readonly kind: 'saved'; readonly file: string }
  | { readonly kind: 'deleted'; readonly file: string };

export interface PromptWatchOptions {
  /** Folders whose prompt files are watched. */
  readonly dirs: readonly string[];
  /** Single files watched (in their folders, alone). */
  readonly files?: readonly string[];
  /** Files already handled, with their content: a save that leaves them as they are is ignored. */
  readonly known?: readonly string[];
  /** How long a file must stay unwritten before it is read. */
  readonly settleMs?: number;
  /** Resolves `false` when the change was not handled (then the same content saved again is handed on again). */
  readonly onChange: (change: PromptChange) => Promise<unknown>;
  readonly onError?: (error: unknown) => void;
}

export interface PromptWatch {
  /** Stops watching; resolves when the change being handed on, if any, is done (queued ones are dropped). */
  stop(): Promise<void>;
  /** Resolves when every change seen so far has been handed on. */
  idle(): Promise<void>;
}

const digest = (content: Buffer) => createHash('sha256').update(content).digest('hex');

export async function watchPrompts(options: PromptWatchOptions): Promise<PromptWatch> {
  const settleMs = options.settleMs ?? 300;
  const hashes = new Map<string, string>();
  for (const file of options.known ?? []) {
    try {
      hashes.set(resolve(file), digest(await readFile(file)));
    } catch {
      // gone already: its next save is a change
    }
  }
  const timers = new Map<string, NodeJS.Timeout>();
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  const report = options.onError ?? (() => {});

  const settled = (file: string) => {
    chain = chain
      .then(async () => {
        if (stopped) return;
        let content: Buffer;
        try {
          content = await readFile(file);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          if (!hashes.delete(file)) return;
          await options.onChange({ kind: 'deleted', file });
          return;
        }
        const hash = digest(content);
        if (hashes.get(file) === hash) return;
        // Only once handled: after a failure, the same content saved again is tried again.
        if ((await options.onChange({ kind: 'saved', file })) !== false) hashes.set(file, hash);
      })
      .catch(report);
  };

  const onEvent = (dir: string, only?: string) => (_event: string, name: string | Buffer | null) => {
    if (stopped || !name || !isPromptFileName(basename(name.toString()))) return;
    const file = resolve(join(dir, name.toString()));
    if (only !== undefined && file !== only) return;
    clearTimeout(timers.get(file));
    timers.set(
      file,
      setTimeout(() => {
        timers.delete(file);
        settled(file);
      }, settleMs),
    );
  };
  const watchers: FSWatcher[] = [
    ...options.dirs.map((dir) => watch(dir, onEvent(dir)).on('error', report)),
    ...(options.files ?? []).map((file) => {
      const dir = resolve(file, '..');
      return watch(dir, onEvent(dir, resolve(file))).on('error', report);
    }),
  ];

  return {
    stop: async () => {
      stopped = true;
      for (const watcher of watchers) watcher.close();
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await chain;
    },
    idle: async () => {
      while (timers.size > 0) await new Promise((r) => setTimeout(r, settleMs));
      await chain;
    },
  };
}
