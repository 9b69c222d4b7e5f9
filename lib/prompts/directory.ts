import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidPromptFileError } from '../errors';
import { type PromptFile, parsePromptFile } from './file';

export const PROMPT_FILE_EXTENSION = '.md';

/** Whether a file name in a prompt folder is a prompt file (a folder's README is not). */
export function isPromptFileName(name: string): boolean {
  return name.endsWith(PROMPT_FILE_EXTENSION) && name !== 'README.md';
}

/** Expands directories to their prompt files (sorted, not recursive) and keeps files as given. */
export async function listPromptFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((cause: unknown) => {
      throw new InvalidPromptFileError(path, 'no such file or directory.', { cause });
    });
    if (info.isDirectory()) {
      const entries = (await readdir(path)).filter(isPromptFileName);
      files.push(...entries.sort().map((f) => join(path, f)));
    } else {
      files.push(path);
    }
  }
  return files;
}

/** Loads and validates every prompt file; fails on the first bad file or a duplicate name. */
export async function loadPromptFiles(paths: readonly string[]): Promise<PromptFile[]> {
  const loaded: PromptFile[] = [];
  const seen = new Map<string, string>();
  for (const file of await listPromptFiles(paths)) {
    const prompt = parsePromptFile(file, await readFile(file));
    const previous = seen.get(prompt.name);
    if (previous !== undefined) {
      throw new InvalidPromptFileError(
        file,
        `the prompt name '${prompt.name}' is already used by ${previous}.`,
      );
    }
    seen.set(prompt.name, file);
    loaded.push(prompt);
  }
  return loaded;
}
