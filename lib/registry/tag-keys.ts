/**
 * Every tag key this project writes to the registry, in one table, in both dialects' spelling.
 * The tracking server takes the dotted keys this project has always written (and must keep
 * reading: they are on every version registered so far). Unity Catalog refuses dots in tag keys
 * (MLflow's own newer keys are `_mlflow_...` for that reason), so there each dot becomes an
 * underscore. A key's two spellings never meet: a registry is one dialect or the other.
 */

/** The registry dialects, by their tag key rules. */
export type TagDialect = 'oss' | 'uc';

/** The dotted keys, as the tracking server has them. Prefixes end with the separator. */
const OSS = {
  /** On a version: the digest of the prompt file it was registered from (lib/register/content-hash). */
  contentHash: 'promptops.content_hash',
  /** On a version: where the register function read its file (bucket, key, ETag, S3 version id). */
  sourceBucket: 'promptops.source.bucket',
  sourceKey: 'promptops.source.key',
  sourceEtag: 'promptops.source.etag',
  sourceVersionId: 'promptops.source.version_id',
  /** On a prompt, `<prefix><alias>`: the alias's move history (lib/promote/history). */
  aliasHistoryPrefix: 'promptops.alias_history.',
  /** On a prompt, `<prefix><alias>`: a move in progress (lib/promote/move-alias). */
  movedToPrefix: 'promptops.moved_to.',
  /** On a prompt: its running experiment, if any (lib/experiments/definition). */
  experiment: 'promptops.experiment',
  /** On a prompt: what happened to its experiments, newest last (lib/experiments/history). */
  experimentHistory: 'promptops.experiment_history',
  /** Every key above starts with it; prompt files may not set such tags themselves. */
  ownPrefix: 'promptops.',
} as const;

export type TagKeyName = keyof typeof OSS;
export type TagKeys = { readonly [name in TagKeyName]: string };

/** The spelling Unity Catalog accepts: the dotted key with each dot an underscore. */
function ucTagKey(key: string): string {
  return key.replaceAll('.', '_');
}

export const TAG_KEYS: { readonly [dialect in TagDialect]: TagKeys } = {
  oss: OSS,
  uc: Object.fromEntries(Object.entries(OSS).map(([name, key]) => [name, ucTagKey(key)])) as TagKeys,
};

/** A key in either spelling of ours: what no user, and no prompt file, may set. */
export function isOwnTagKey(key: string): boolean {
  return key.startsWith(OSS.ownPrefix) || key.startsWith(TAG_KEYS.uc.ownPrefix);
}

/** Why Unity Catalog would refuse the tag key, or undefined when it would not. */
export function ucTagKeyProblem(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.includes('.')) return 'Unity Catalog tag keys cannot contain dots';
  return undefined;
}

/** Our own keys by their tracking-server spelling and Unity Catalog's, longest first (prefixes last among equals). */
const OWN_KEYS = (Object.keys(OSS) as TagKeyName[])
  .filter((name) => name !== 'ownPrefix')
  .map((name) => ({ oss: OSS[name], uc: TAG_KEYS.uc[name], prefix: OSS[name].endsWith('.') }))
  .sort((a, b) => b.uc.length - a.uc.length);

/**
 * A key as the dialect's wire spells it. The code names our keys in the tracking server's
 * spelling (TAG_KEYS.oss, and prefixes followed by an alias, which holds no dot); on Unity Catalog
 * each becomes its underscored form. Other keys (a user's, MLflow's) pass as given.
 */
export function wireTagKey(dialect: TagDialect, key: string): string {
  if (dialect === 'oss') return key;
  for (const own of OWN_KEYS) {
    if (own.prefix ? key.startsWith(own.oss) : key === own.oss) return own.uc + key.slice(own.oss.length);
  }
  return key;
}

/** The reverse of wireTagKey: a key read from the dialect's wire, in the spelling the code uses. */
export function codeTagKey(dialect: TagDialect, key: string): string {
  if (dialect === 'oss') return key;
  for (const own of OWN_KEYS) {
    if (own.prefix ? key.startsWith(own.uc) : key === own.uc) return own.oss + key.slice(own.uc.length);
  }
  return key;
}
