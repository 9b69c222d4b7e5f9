import { createHash } from 'node:crypto';
import type { PromptFile } from '../prompts/file';
import { TAG_KEYS } from '../registry/tag-keys';
import { type PyJsonValue, pythonJsonDumps } from '../util/python-json';

/** The version tag that records what a version was registered from, to skip unchanged uploads. */
export const CONTENT_HASH_TAG = TAG_KEYS.oss.contentHash;

/**
 * A digest of what a version carries: template, tags, model config and response format. The
 * commit message and description are about the change, not the content, and are left out.
 * Keys are sorted so that reordering YAML fields is not a change.
 */
export function contentHash(
  file: Pick<PromptFile, 'template' | 'tags' | 'modelConfig' | 'responseFormat'>,
): string {
  const sortKeys = (value: unknown): PyJsonValue => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
      );
    }
    return value as PyJsonValue;
  };
  const canonical = pythonJsonDumps(
    sortKeys({
      template: file.template,
      tags: file.tags,
      model_config: file.modelConfig ?? null,
      response_format: file.responseFormat ?? null,
    }),
  );
  return `sha256:${createHash('sha256').update(canonical, 'utf8').digest('hex')}`;
}
