/**
 * The one table of the registry tag keys this project writes: the tracking server's spelling is
 * the one every registered version already carries (it must not change), Unity Catalog's has no
 * dots, and both name each key once.
 */
import { describe, expect, it } from 'vitest';
import { HISTORY_TAG_PREFIX } from '../../lib/promote/history';
import { MOVED_TAG_PREFIX } from '../../lib/promote/move-alias';
import { OWN_TAG_PREFIX } from '../../lib/prompts/file';
import { CONTENT_HASH_TAG } from '../../lib/register/content-hash';
import { PROVENANCE_TAGS } from '../../lib/register/process-upload';
import { codeTagKey, TAG_KEYS, ucTagKeyProblem, wireTagKey } from '../../lib/registry/tag-keys';

describe('registry tag keys', () => {
  it('keeps the tracking server keys every registered version already carries', () => {
    expect(TAG_KEYS.oss).toEqual({
      contentHash: 'promptops.content_hash',
      sourceBucket: 'promptops.source.bucket',
      sourceKey: 'promptops.source.key',
      sourceEtag: 'promptops.source.etag',
      sourceVersionId: 'promptops.source.version_id',
      aliasHistoryPrefix: 'promptops.alias_history.',
      movedToPrefix: 'promptops.moved_to.',
      experiment: 'promptops.experiment',
      experimentHistory: 'promptops.experiment_history',
      ownPrefix: 'promptops.',
    });
    // The code writes what the table says.
    expect([
      CONTENT_HASH_TAG,
      HISTORY_TAG_PREFIX,
      MOVED_TAG_PREFIX,
      OWN_TAG_PREFIX,
      ...Object.values(PROVENANCE_TAGS),
    ]).toEqual([
      TAG_KEYS.oss.contentHash,
      TAG_KEYS.oss.aliasHistoryPrefix,
      TAG_KEYS.oss.movedToPrefix,
      TAG_KEYS.oss.ownPrefix,
      TAG_KEYS.oss.sourceBucket,
      TAG_KEYS.oss.sourceKey,
      TAG_KEYS.oss.sourceEtag,
      TAG_KEYS.oss.sourceVersionId,
    ]);
  });

  it('spells every key without dots for Unity Catalog, each once, under its own prefix', () => {
    const uc = Object.values(TAG_KEYS.uc);
    for (const key of uc) expect(ucTagKeyProblem(key), key).toBeUndefined();
    expect(new Set(uc).size).toBe(uc.length);
    expect(TAG_KEYS.uc.contentHash).toBe('promptops_content_hash');
    expect(TAG_KEYS.uc.aliasHistoryPrefix).toBe('promptops_alias_history_');
    for (const key of uc) expect(key.startsWith(TAG_KEYS.uc.ownPrefix)).toBe(true);
    // As Unity Catalog answers the keys the tracking server takes.
    expect(ucTagKeyProblem(TAG_KEYS.oss.contentHash)).toMatch(/cannot contain dots/);
    expect(ucTagKeyProblem('')).toBe('it is empty');
  });

  it('translates our keys to the Unity Catalog wire and back; other keys pass as given', () => {
    const cases: [string, string][] = [
      ['promptops.content_hash', 'promptops_content_hash'],
      ['promptops.source.version_id', 'promptops_source_version_id'],
      ['promptops.alias_history.production', 'promptops_alias_history_production'],
      ['promptops.alias_history.canary_2', 'promptops_alias_history_canary_2'],
      ['promptops.moved_to.staging', 'promptops_moved_to_staging'],
    ];
    for (const [code, wire] of cases) {
      expect(wireTagKey('uc', code)).toBe(wire);
      expect(codeTagKey('uc', wire)).toBe(code);
      expect(wireTagKey('oss', code)).toBe(code);
      expect(codeTagKey('oss', code)).toBe(code);
    }
    for (const other of ['team', '_mlflow_experiment_ids', 'team.owner', 'promptops_unknown']) {
      expect(wireTagKey('uc', other)).toBe(other);
      expect(codeTagKey('uc', other)).toBe(other);
    }
  });
});
